//! The requester's side: my tickets, raising a ticket, the service catalog
//! and ordering an item through its typed form (each error at its field,
//! nothing stored while any is wrong — `Desk::order_item` decides).

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
    routing::get,
    Router,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    error::message,
    filters,
    layout::{Chrome, Section},
    render, render_status,
    session::{check_csrf, see_other, Form, Signed, SignedIn},
    Console, PageError,
};
use crate::{
    desk::{
        catalog::{ItemView, OrderInput},
        tickets::{ListTickets, OpenTicket},
        views::TicketView,
        DeskError,
    },
    domain::form::{FieldKind, FormDefinition, FormField},
};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/console/my", get(my_tickets))
        .route("/console/new", get(new_page).post(raise))
        .route("/console/catalog", get(catalog))
        .route("/console/catalog/{id}", get(item_page).post(order))
}

#[derive(Template)]
#[template(path = "my.html")]
struct MyPage {
    chrome: Chrome,
    tickets: Vec<TicketView>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct CursorQuery {
    cursor: Option<String>,
}

async fn my_tickets(
    State(console): State<Console>,
    Signed(signed): Signed,
    Query(q): Query<CursorQuery>,
) -> Result<Response, PageError> {
    let list = console
        .desk
        .list_tickets(
            &signed.actor,
            ListTickets {
                requester: signed.actor.person_id.map(|id| id.to_string()),
                sort: Some("-updated_at".into()),
                cursor: q.cursor,
                limit: Some(50),
                ..ListTickets::default()
            },
        )
        .await?;
    render(&MyPage {
        chrome: Chrome::new(&signed, Section::Mine, "My tickets"),
        next: list.next_cursor.map(|c| {
            format!(
                "/console/my?cursor={}",
                url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
            )
        }),
        tickets: list.items,
    })
}

#[derive(Template)]
#[template(path = "new_ticket.html")]
struct NewPage {
    chrome: Chrome,
    kind: String,
    title: String,
    description: String,
    urgency: String,
    errors: Vec<(String, String)>,
}

impl NewPage {
    fn urgency_is(&self, value: &str) -> bool {
        self.urgency == value
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

fn new_page_for(signed: &SignedIn) -> NewPage {
    NewPage {
        chrome: Chrome::new(signed, Section::Mine, "Raise a ticket"),
        kind: "incident".into(),
        title: String::new(),
        description: String::new(),
        urgency: "medium".into(),
        errors: Vec::new(),
    }
}

async fn new_page(Signed(signed): Signed) -> Result<Response, PageError> {
    render(&new_page_for(&signed))
}

/// Field errors of a refusal, by field; anything else is not a form error.
fn field_errors(error: DeskError) -> Result<Vec<(String, String)>, PageError> {
    match error {
        DeskError::Invalid(fields) => Ok(fields
            .into_iter()
            .map(|f| (f.field.to_string(), f.message))
            .collect()),
        DeskError::Forbidden(_) | DeskError::Conflict(_) => {
            Ok(vec![(String::new(), message(&error))])
        }
        other => Err(other.into()),
    }
}

async fn raise(
    State(console): State<Console>,
    Signed(signed): Signed,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let mut page = new_page_for(&signed);
    page.kind = form.get("kind").unwrap_or("incident").to_string();
    page.title = form.get("title").unwrap_or_default().to_string();
    page.description = form.get("description").unwrap_or_default().to_string();
    page.urgency = form.get("urgency").unwrap_or("medium").to_string();
    let input = OpenTicket {
        tags: Vec::new(),
        kind: page.kind.clone(),
        title: page.title.clone(),
        description: page.description.clone(),
        impact: None,
        urgency: Some(page.urgency.clone()),
        category: None,
        team: None,
        requester: None,
    };
    let (desk, actor) = (console.desk.clone(), signed.actor.clone());
    let opened = console
        .desk
        .execute(move |work| Box::pin(async move { desk.open_ticket(work, &actor, input).await }))
        .await;
    match opened {
        Ok(ticket) => Ok(see_other(&format!("/console/tickets/{}", ticket.number))),
        Err(error) => {
            page.errors = field_errors(error)?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}

#[derive(Template)]
#[template(path = "catalog.html")]
struct CatalogPage {
    chrome: Chrome,
    groups: Vec<(String, Vec<ItemView>)>,
}

async fn catalog(
    State(console): State<Console>,
    Signed(signed): Signed,
) -> Result<Response, PageError> {
    let catalog = console.desk.catalog(&signed.actor).await?;
    let mut groups: Vec<(String, Vec<ItemView>)> = catalog
        .categories
        .iter()
        .map(|c| (c.name.clone(), Vec::new()))
        .collect();
    let mut other = Vec::new();
    for item in catalog.items.into_iter().filter(|i| i.active) {
        match groups
            .iter_mut()
            .find(|(name, _)| Some(name) == item.category.as_ref())
        {
            Some((_, items)) => items.push(item),
            None => other.push(item),
        }
    }
    if !other.is_empty() {
        groups.push(("Other".into(), other));
    }
    groups.retain(|(_, items)| !items.is_empty());
    render(&CatalogPage {
        chrome: Chrome::new(&signed, Section::Catalog, "Service catalog"),
        groups,
    })
}

/// One form field as the page shows it, with what was typed and its error.
pub struct Input {
    pub name: String,
    pub id: String,
    pub label: String,
    /// `text`, `textarea`, `number`, `date`, `select`, `checkboxes`, `email`.
    pub control: &'static str,
    pub required: bool,
    pub help: Option<String>,
    pub value: String,
    pub options: Vec<Choice>,
    pub min: String,
    pub max: String,
    pub step: &'static str,
    pub error: Option<String>,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub chosen: bool,
}

fn input(field: &FormField, form: Option<&Form>, errors: &[(String, String)]) -> Input {
    let name = format!("answers.{}", field.key);
    let typed: Vec<String> = match form {
        Some(form) => form.all(&name),
        None => field
            .default
            .iter()
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().map(plain).collect(),
                other => vec![plain(other)],
            })
            .collect(),
    };
    let value = typed.first().cloned().unwrap_or_default();
    let choices = |options: &[crate::domain::form::FormOption]| {
        options
            .iter()
            .map(|o| Choice {
                chosen: typed.contains(&o.value),
                value: o.value.clone(),
                label: o.label().to_string(),
            })
            .collect()
    };
    let (control, options, min, max, step) = match &field.kind {
        FieldKind::Text { .. } | FieldKind::ConfigurationItem { .. } => {
            ("text", Vec::new(), String::new(), String::new(), "")
        }
        FieldKind::LongText { .. } => ("textarea", Vec::new(), String::new(), String::new(), ""),
        FieldKind::Number { min, max, integer } => (
            "number",
            Vec::new(),
            min.map(|m| m.to_string()).unwrap_or_default(),
            max.map(|m| m.to_string()).unwrap_or_default(),
            if *integer { "1" } else { "any" },
        ),
        FieldKind::Date { min, max } => (
            "date",
            Vec::new(),
            min.map(|d| d.to_string()).unwrap_or_default(),
            max.map(|d| d.to_string()).unwrap_or_default(),
            "",
        ),
        FieldKind::Choice { options } => {
            ("select", choices(options), String::new(), String::new(), "")
        }
        FieldKind::MultiChoice { options, .. } => (
            "checkboxes",
            choices(options),
            String::new(),
            String::new(),
            "",
        ),
        FieldKind::Person => ("email", Vec::new(), String::new(), String::new(), ""),
    };
    Input {
        id: format!("field-{}", field.key),
        error: errors
            .iter()
            .find(|(f, _)| f == &name)
            .map(|(_, m)| m.clone()),
        name,
        label: field.label.clone(),
        control,
        required: field.required,
        help: field.help.clone(),
        value,
        options,
        min,
        max,
        step,
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Template)]
#[template(path = "order.html")]
struct OrderPage {
    chrome: Chrome,
    item: ItemView,
    inputs: Vec<Input>,
    /// Errors not of one field (the title, a refusal).
    errors: Vec<String>,
}

impl OrderPage {
    fn any_field_error(&self) -> bool {
        self.inputs.iter().any(|i| i.error.is_some())
    }
}

fn order_page(
    signed: &SignedIn,
    item: ItemView,
    form: Option<&Form>,
    errors: &[(String, String)],
) -> Result<OrderPage, PageError> {
    let definition = FormDefinition::parse(&item.form).map_err(|e| {
        DeskError::Internal(anyhow::anyhow!(
            "stored form of catalog item {}: {e:?}",
            item.id
        ))
    })?;
    let inputs: Vec<Input> = definition
        .fields
        .iter()
        .map(|f| input(f, form, errors))
        .collect();
    let general = errors
        .iter()
        .filter(|(f, _)| !inputs.iter().any(|i| &i.name == f))
        .map(|(f, m)| {
            if f.is_empty() {
                m.clone()
            } else {
                format!("{}: {m}", filters::words(f))
            }
        })
        .collect();
    Ok(OrderPage {
        chrome: Chrome::new(signed, Section::Catalog, item.name.clone()),
        item,
        inputs,
        errors: general,
    })
}

async fn item_page(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let item = console.desk.get_catalog_item(&signed.actor, id).await?;
    render(&order_page(&signed, item, None, &[])?)
}

async fn order(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(id): Path<Uuid>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let item = console.desk.get_catalog_item(&signed.actor, id).await?;
    let definition = FormDefinition::parse(&item.form)
        .map_err(|e| DeskError::Internal(anyhow::anyhow!("stored form of {}: {e:?}", item.id)))?;
    // Blank answers are left out, so a required field says it is missing.
    let mut answers = Map::new();
    for field in &definition.fields {
        let name = format!("answers.{}", field.key);
        let values: Vec<String> = form
            .all(&name)
            .into_iter()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        match (&field.kind, values.as_slice()) {
            (_, []) => {}
            (FieldKind::MultiChoice { .. }, many) => {
                answers.insert(
                    field.key.clone(),
                    Value::Array(many.iter().cloned().map(Value::String).collect()),
                );
            }
            (_, [one, ..]) => {
                answers.insert(field.key.clone(), Value::String(one.clone()));
            }
        }
    }
    let input = OrderInput {
        answers,
        requester: None,
        title: None,
    };
    let (desk, actor) = (console.desk.clone(), signed.actor.clone());
    let ordered = console
        .desk
        .execute(move |work| {
            Box::pin(async move { desk.order_item(work, &actor, id, input).await })
        })
        .await;
    match ordered {
        Ok(request) => Ok(see_other(&format!(
            "/console/tickets/{}",
            request.ticket.number
        ))),
        Err(error) => {
            let errors = field_errors(error)?;
            let page = order_page(&signed, item, Some(&form), &errors)?;
            render_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}
