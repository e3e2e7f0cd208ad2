//! Admin: the service catalog — its categories and items, each item's
//! name, description, category, fulfilment team, approval policy, tasks,
//! and its form definition as the JSON the API takes (`{"fields": […]}`),
//! all handed as one `ItemInput` to `Desk::create_catalog_item` /
//! `update_catalog_item` (as `POST`/`PUT /api/v1/catalog/items`), which
//! checks everything at once; each of its errors is shown at its field.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Router,
};
use serde_json::Value;
use uuid::Uuid;

use super::{
    admin::{refusal, tabs, Tab},
    layout::{Chrome, Section},
    render_status,
    session::{check_csrf, see_other, Form, Signed, SignedIn},
    Console, PageError,
};
use crate::desk::{
    approvals::PolicyView,
    catalog::{CatalogCategoryView, ItemInput, ItemView},
    views::TeamView,
    DeskError,
};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/console/admin/catalog", get(page))
        .route("/console/admin/catalog/categories", post(create_category))
        .route(
            "/console/admin/catalog/items/new",
            get(new_item).post(create_item),
        )
        .route(
            "/console/admin/catalog/items/{id}",
            get(edit_item).post(update_item),
        )
}

#[derive(Default)]
pub struct CategoryForm {
    pub name: String,
    pub description: String,
    pub position: String,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_catalog.html")]
struct CatalogPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    categories: Vec<CatalogCategoryView>,
    items: Vec<ItemView>,
    new_category: CategoryForm,
}

async fn load(console: &Console, signed: &SignedIn) -> Result<CatalogPage, DeskError> {
    signed.actor.require_admin()?;
    let catalog = console.desk.catalog(&signed.actor).await?;
    Ok(CatalogPage {
        chrome: Chrome::new(signed, Section::Admin, "Catalog"),
        tabs: tabs("/console/admin/catalog"),
        categories: catalog.categories,
        items: catalog.items,
        new_category: CategoryForm::default(),
    })
}

async fn page(
    State(console): State<Console>,
    Signed(signed): Signed,
) -> Result<Response, PageError> {
    render_status(StatusCode::OK, &load(&console, &signed).await?)
}

async fn create_category(
    State(console): State<Console>,
    Signed(signed): Signed,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let typed = CategoryForm {
        name: form.get("name").unwrap_or_default().trim().to_string(),
        description: form
            .get("description")
            .unwrap_or_default()
            .trim()
            .to_string(),
        position: form.get("position").unwrap_or_default().trim().to_string(),
        errors: Vec::new(),
    };
    let position = match typed.position.as_str() {
        "" => Ok(None),
        p => p
            .parse::<i32>()
            .map(Some)
            .map_err(|_| DeskError::invalid("position", "must be a whole number")),
    };
    let created = match position {
        Ok(position) => {
            let (desk, actor) = (console.desk.clone(), signed.actor.clone());
            let (name, description) = (typed.name.clone(), typed.description.clone());
            console
                .desk
                .execute(move |work| {
                    Box::pin(async move {
                        desk.create_catalog_category(work, &actor, &name, &description, position)
                            .await
                            .map(|_| ())
                    })
                })
                .await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(()) => Ok(see_other("/console/admin/catalog#categories")),
        Err(error) => {
            let (status, errors) = refusal(error)?;
            let mut page = load(&console, &signed).await?;
            page.new_category = CategoryForm { errors, ..typed };
            render_status(status, &page)
        }
    }
}

/// The item form's values, as stored or as typed.
pub struct ItemForm {
    pub name: String,
    pub description: String,
    pub category: String,
    pub team: String,
    pub approval_policy: String,
    pub tasks: String,
    pub active: bool,
    pub form: String,
}

#[derive(Template)]
#[template(path = "admin_item.html")]
struct ItemPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    heading: String,
    action: String,
    item: ItemForm,
    categories: Vec<CatalogCategoryView>,
    teams: Vec<TeamView>,
    policies: Vec<PolicyView>,
    /// The desk's errors: (field, message); an empty field is the form's.
    errors: Vec<(String, String)>,
}

impl ItemPage {
    /// The messages for one field (`form` takes every `form…` path, the
    /// fields of the form definition).
    fn error_at(&self, field: &str) -> Option<String> {
        let messages: Vec<String> = self
            .errors
            .iter()
            .filter(|(f, _)| {
                f == field
                    || (field == "form" && (f.starts_with("form.") || f.starts_with("form[")))
            })
            .map(|(f, m)| {
                if f == field {
                    m.clone()
                } else {
                    format!("{f}: {m}")
                }
            })
            .collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    }

    /// Errors no field of the page shows.
    fn general(&self) -> Vec<String> {
        const SHOWN: [&str; 7] = [
            "name",
            "description",
            "category",
            "team",
            "approval_policy",
            "tasks",
            "form",
        ];
        self.errors
            .iter()
            .filter(|(f, _)| {
                !SHOWN.iter().any(|s| {
                    f == s || f.starts_with(&format!("{s}.")) || f.starts_with(&format!("{s}["))
                })
            })
            .map(|(f, m)| {
                if f.is_empty() {
                    m.clone()
                } else {
                    format!("{f}: {m}")
                }
            })
            .collect()
    }
}

fn blank_item() -> ItemForm {
    ItemForm {
        name: String::new(),
        description: String::new(),
        category: String::new(),
        team: String::new(),
        approval_policy: String::new(),
        tasks: String::new(),
        active: true,
        form: "{\n  \"fields\": [\n    {\"key\": \"reason\", \"label\": \"Why do you need it?\", \"type\": \"long_text\", \"required\": true}\n  ]\n}".into(),
    }
}

fn stored_item(item: &ItemView) -> Result<ItemForm, DeskError> {
    Ok(ItemForm {
        name: item.name.clone(),
        description: item.description.clone(),
        category: item.category.clone().unwrap_or_default(),
        team: item.team.clone().unwrap_or_default(),
        approval_policy: item.approval_policy.clone().unwrap_or_default(),
        tasks: item.tasks.join("\n"),
        active: item.active,
        form: serde_json::to_string_pretty(&item.form).map_err(anyhow::Error::from)?,
    })
}

async fn item_page(
    console: &Console,
    signed: &SignedIn,
    id: Option<Uuid>,
) -> Result<ItemPage, DeskError> {
    signed.actor.require_admin()?;
    let actor = &signed.actor;
    let (heading, item) = match id {
        Some(id) => {
            let item = console.desk.get_catalog_item(actor, id).await?;
            (item.name.clone(), stored_item(&item)?)
        }
        None => ("New catalog item".to_string(), blank_item()),
    };
    Ok(ItemPage {
        chrome: Chrome::new(signed, Section::Admin, heading.clone()),
        tabs: tabs("/console/admin/catalog"),
        heading,
        action: match id {
            Some(id) => format!("/console/admin/catalog/items/{id}"),
            None => "/console/admin/catalog/items/new".into(),
        },
        item,
        categories: console.desk.catalog(actor).await?.categories,
        teams: console.desk.list_teams(actor).await?,
        policies: console.desk.list_policies(actor).await?,
        errors: Vec::new(),
    })
}

async fn new_item(
    State(console): State<Console>,
    Signed(signed): Signed,
) -> Result<Response, PageError> {
    render_status(StatusCode::OK, &item_page(&console, &signed, None).await?)
}

async fn edit_item(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    render_status(
        StatusCode::OK,
        &item_page(&console, &signed, Some(id)).await?,
    )
}

fn typed_item(form: &Form) -> ItemForm {
    let text = |name: &str| form.get(name).unwrap_or_default().trim().to_string();
    ItemForm {
        name: text("name"),
        description: text("description"),
        category: text("category"),
        team: text("team"),
        approval_policy: text("approval_policy"),
        tasks: form.get("tasks").unwrap_or_default().to_string(),
        active: form.checked("active"),
        form: form.get("form").unwrap_or_default().to_string(),
    }
}

fn input_of(item: &ItemForm) -> Result<ItemInput, DeskError> {
    let form: Value = serde_json::from_str(&item.form)
        .map_err(|e| DeskError::invalid("form", format!("not valid JSON: {e}")))?;
    let some = |v: &str| (!v.is_empty()).then(|| v.to_string());
    Ok(ItemInput {
        name: item.name.clone(),
        description: item.description.clone(),
        category: some(&item.category),
        form,
        team: some(&item.team),
        approval_policy: some(&item.approval_policy),
        tasks: item
            .tasks
            .lines()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        active: item.active,
    })
}

async fn save_item(
    console: &Console,
    signed: &SignedIn,
    id: Option<Uuid>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(signed, &form)?;
    let typed = typed_item(&form);
    let saved = match input_of(&typed) {
        Ok(input) => {
            let (desk, actor) = (console.desk.clone(), signed.actor.clone());
            console
                .desk
                .execute(move |work| {
                    Box::pin(async move {
                        match id {
                            Some(id) => desk.update_catalog_item(work, &actor, id, input).await,
                            None => desk.create_catalog_item(work, &actor, input).await,
                        }
                    })
                })
                .await
        }
        Err(e) => Err(e),
    };
    match saved {
        Ok(item) => Ok(see_other(&format!(
            "/console/admin/catalog#item-{}",
            item.id
        ))),
        Err(error) => {
            let fields = match &error {
                DeskError::Invalid(fields) => fields
                    .iter()
                    .map(|f| (f.field.to_string(), f.message.clone()))
                    .collect(),
                _ => Vec::new(),
            };
            let (status, lines) = refusal(error)?;
            let mut page = item_page(console, signed, id).await?;
            page.item = typed;
            page.errors = if fields.is_empty() {
                lines.into_iter().map(|l| (String::new(), l)).collect()
            } else {
                fields
            };
            render_status(status, &page)
        }
    }
}

async fn create_item(
    State(console): State<Console>,
    Signed(signed): Signed,
    form: Form,
) -> Result<Response, PageError> {
    save_item(&console, &signed, None, form).await
}

async fn update_item(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(id): Path<Uuid>,
    form: Form,
) -> Result<Response, PageError> {
    save_item(&console, &signed, Some(id), form).await
}
