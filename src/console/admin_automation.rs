//! Admin: automation rules in run order, switched on and off or deleted
//! here (the switch is `Desk::update_rule` with the rule as stored and
//! `enabled` flipped, as a `PUT /api/v1/rules/{id}` would send it; editing
//! a rule's JSON is `admin_specs`), and webhook subscriptions: created
//! (`Desk::create_webhook`; the signing secret is shown once, on the page
//! the form answers) and deleted, as `/api/v1/webhooks` does.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Router,
};
use uuid::Uuid;

use super::{
    admin::{refusal, tabs, Tab},
    filters,
    layout::{Chrome, Section},
    render_status,
    session::{check_csrf, see_other, Form, Signed, SignedIn},
    Console, PageError,
};
use crate::desk::{
    automation::{RuleInput, RuleView},
    events::EVENT_NAMES,
    views::WebhookView,
    DeskError,
};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/console/admin/automation", get(page))
        .route("/console/admin/rules/{id}/enabled", post(switch))
        .route("/console/admin/webhooks", post(create_webhook))
        .route("/console/admin/webhooks/{id}/delete", post(delete_webhook))
}

pub struct EventBox {
    pub name: &'static str,
    pub checked: bool,
}

#[derive(Default)]
pub struct WebhookForm {
    pub url: String,
    pub events: Vec<String>,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_automation.html")]
struct AutomationPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    rules: Vec<RuleView>,
    /// A refusal of a rule's switch or deletion.
    rule_errors: Vec<String>,
    webhooks: Vec<WebhookView>,
    new_webhook: WebhookForm,
    /// The subscription just created, with its secret shown this once.
    created: Option<WebhookView>,
}

impl AutomationPage {
    /// `all` or `any` (templates cannot name the raw identifier).
    fn match_of<'a>(&self, rule: &'a RuleView) -> &'a str {
        &rule.r#match
    }

    fn events(&self) -> Vec<EventBox> {
        EVENT_NAMES
            .iter()
            .map(|&name| EventBox {
                name,
                checked: self.new_webhook.events.iter().any(|e| e == name),
            })
            .collect()
    }
}

async fn load(console: &Console, signed: &SignedIn) -> Result<AutomationPage, DeskError> {
    signed.actor.require_admin()?;
    Ok(AutomationPage {
        chrome: Chrome::new(signed, Section::Admin, "Rules and webhooks"),
        tabs: tabs("/console/admin/automation"),
        rules: console.desk.list_rules(&signed.actor).await?,
        rule_errors: Vec::new(),
        webhooks: console.desk.list_webhooks(&signed.actor).await?,
        new_webhook: WebhookForm::default(),
        created: None,
    })
}

async fn page(
    State(console): State<Console>,
    Signed(signed): Signed,
) -> Result<Response, PageError> {
    render_status(StatusCode::OK, &load(&console, &signed).await?)
}

/// Back to the page, or the page with the refusal above the rules.
async fn after_rule(
    console: &Console,
    signed: &SignedIn,
    outcome: Result<(), DeskError>,
) -> Result<Response, PageError> {
    match outcome {
        Ok(()) => Ok(see_other("/console/admin/automation#rules")),
        Err(error) => {
            let (status, errors) = refusal(error)?;
            let mut page = load(console, signed).await?;
            page.rule_errors = errors;
            render_status(status, &page)
        }
    }
}

async fn switch(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(id): Path<Uuid>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let enabled = form.checked("enabled");
    let outcome = match console.desk.get_rule(&signed.actor, id).await {
        Ok(rule) => {
            let input = RuleInput {
                name: rule.name,
                trigger: rule.trigger,
                r#match: Some(rule.r#match),
                conditions: rule.conditions,
                actions: rule.actions,
                stop_processing: rule.stop_processing,
                enabled,
                position: Some(rule.position),
            };
            let (desk, actor) = (console.desk.clone(), signed.actor.clone());
            console
                .desk
                .execute(move |work| {
                    Box::pin(
                        async move { desk.update_rule(work, &actor, id, input).await.map(|_| ()) },
                    )
                })
                .await
        }
        Err(e) => Err(e),
    };
    after_rule(&console, &signed, outcome).await
}

async fn create_webhook(
    State(console): State<Console>,
    Signed(signed): Signed,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let url = form.get("url").unwrap_or_default().trim().to_string();
    let events = form.all("event");
    let secret = form.text("secret");
    let (desk, actor) = (console.desk.clone(), signed.actor.clone());
    let (u, e) = (url.clone(), events.clone());
    let created = console
        .desk
        .execute(move |work| {
            Box::pin(async move { desk.create_webhook(work, &actor, &u, &e, secret).await })
        })
        .await;
    match created {
        Ok(view) => {
            let mut page = load(&console, &signed).await?;
            page.created = Some(view);
            render_status(StatusCode::CREATED, &page)
        }
        Err(error) => {
            let (status, errors) = refusal(error)?;
            let mut page = load(&console, &signed).await?;
            page.new_webhook = WebhookForm {
                url,
                events,
                errors,
            };
            render_status(status, &page)
        }
    }
}

async fn delete_webhook(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(id): Path<Uuid>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let (desk, actor) = (console.desk.clone(), signed.actor.clone());
    let deleted = console
        .desk
        .execute(move |work| Box::pin(async move { desk.delete_webhook(work, &actor, id).await }))
        .await;
    match deleted {
        Ok(()) => Ok(see_other("/console/admin/automation#webhooks")),
        Err(error) => {
            let (status, errors) = refusal(error)?;
            let mut page = load(&console, &signed).await?;
            page.new_webhook.errors = errors;
            render_status(status, &page)
        }
    }
}
