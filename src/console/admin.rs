//! The admin's overview: which connectors are on, workers that keep failing,
//! outbox deliveries that gave up (with a retry button, `Desk::retry_outbox`
//! as `POST /api/v1/outbox/{id}/retry`), people with their roles and teams;
//! and what the admin pages share (the sub-navigation, how a refused form
//! shows the desk's words). The sections: `admin_people` (people, roles,
//! invitations), `admin_teams` (teams, members, categories), `admin_specs`
//! (SLA, escalation, on-call, schedules and rules edited as the API's JSON),
//! `admin_catalog` (catalog items and their forms), `admin_automation`
//! (rules and webhooks).

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
    error::{describe, message},
    filters,
    layout::{Chrome, Section},
    render_status,
    session::{check_csrf, see_other, Form, Signed, SignedIn},
    Console, PageError,
};
use crate::desk::{
    mailboxes::MailboxPollView,
    views::{OrganizationView, OutboxView, PersonView, TeamView},
    DeskError,
};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/console/admin", get(page))
        .route("/console/admin/outbox/{id}/retry", post(retry))
        .route("/console/admin/organization", post(organization))
}

pub struct Connector {
    pub name: &'static str,
    pub on: bool,
    pub detail: String,
}

/// A link of the admin sub-navigation (`admin_nav.html`).
pub struct Tab {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// The admin sections, `current` marked (its `href`).
pub fn tabs(current: &str) -> Vec<Tab> {
    [
        ("/console/admin", "Overview"),
        ("/console/admin/people", "People"),
        ("/console/admin/teams", "Teams and categories"),
        ("/console/admin/sla", "SLA"),
        ("/console/admin/escalation", "Escalation and on-call"),
        ("/console/admin/catalog", "Catalog"),
        ("/console/admin/automation", "Rules and webhooks"),
    ]
    .into_iter()
    .map(|(href, label)| Tab {
        href,
        label,
        current: href == current,
    })
    .collect()
}

/// The refusals an admin form shows at itself, each field error on its own
/// line, with the status the API would answer; anything else (the store
/// away, a fault) is an error page.
pub fn refusal(error: DeskError) -> Result<(StatusCode, Vec<String>), PageError> {
    let lines = match &error {
        DeskError::Invalid(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect(),
        DeskError::Conflict(_)
        | DeskError::Forbidden(_)
        | DeskError::NotFound(_)
        | DeskError::Transition(_)
        | DeskError::BulkInvalid(_)
        | DeskError::TooLarge(_) => vec![message(&error)],
        _ => return Err(error.into()),
    };
    Ok((describe(&error).0, lines))
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    organization: OrganizationView,
    connectors: Vec<Connector>,
    mailboxes: Vec<MailboxPollView>,
    failing: Vec<String>,
    dead: Vec<OutboxView>,
    people: Vec<PersonView>,
    teams: Vec<TeamView>,
    error: Option<String>,
}

impl AdminPage {
    fn team_size(&self, team: &TeamView) -> usize {
        team.members.len()
    }
}

fn connectors(console: &Console) -> Vec<Connector> {
    let c = &console.config;
    let mailboxes = usize::from(!c.email.imap_url.is_empty()) + c.email.mailboxes.len();
    vec![
        Connector {
            name: "Slack",
            on: c.slack.enabled(),
            detail: if c.slack.socket_mode {
                "Socket Mode".into()
            } else if c.slack.oauth_enabled() {
                "events over HTTP, installable in several workspaces".into()
            } else {
                "events over HTTP".into()
            },
        },
        Connector {
            name: "Discord",
            on: c.discord.enabled(),
            detail: if c.discord.gateway {
                "interactions and the gateway".into()
            } else {
                "interactions over HTTP".into()
            },
        },
        Connector {
            name: "Email in",
            on: mailboxes > 0,
            detail: format!(
                "{mailboxes} mailbox{}, polled every {} s",
                if mailboxes == 1 { "" } else { "es" },
                c.email.poll_interval
            ),
        },
        Connector {
            name: "Email out",
            on: !c.email.smtp_url.is_empty(),
            detail: if c.email.from.is_empty() {
                "no sender address".into()
            } else {
                format!("from {}", c.email.from)
            },
        },
    ]
}

async fn load(
    console: &Console,
    signed: &SignedIn,
    error: Option<String>,
) -> Result<AdminPage, DeskError> {
    signed.actor.require_admin()?;
    let actor = &signed.actor;
    Ok(AdminPage {
        chrome: Chrome::new(signed, Section::Admin, "Admin"),
        tabs: tabs("/console/admin"),
        organization: console.desk.organization(actor).await?,
        connectors: connectors(console),
        mailboxes: console.desk.mailbox_polls(actor).await?,
        failing: console
            .workers
            .failing()
            .iter()
            .map(ToString::to_string)
            .collect(),
        dead: console.desk.list_outbox(actor, Some("dead"), 50).await?,
        people: console.desk.list_people(actor).await?,
        teams: console.desk.list_teams(actor).await?,
        error,
    })
}

async fn page(
    State(console): State<Console>,
    Signed(signed): Signed,
) -> Result<Response, PageError> {
    render_status(StatusCode::OK, &load(&console, &signed, None).await?)
}

/// The organization's settings form: two-factor sign-in for everyone and
/// the time zone reports cut days in (`PATCH /api/v1/organization`).
async fn organization(
    State(console): State<Console>,
    Signed(signed): Signed,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let mfa_required = Some(form.checked("mfa_required"));
    let time_zone = form.text("time_zone");
    let (desk, actor) = (console.desk.clone(), signed.actor.clone());
    let updated = console
        .desk
        .execute(move |work| {
            Box::pin(async move {
                desk.update_organization(work, &actor, mfa_required, time_zone)
                    .await
            })
        })
        .await;
    match updated {
        Ok(_) => Ok(see_other("/console/admin")),
        Err(error) => {
            let (status, lines) = refusal(error)?;
            render_status(
                status,
                &load(&console, &signed, Some(lines.join("; "))).await?,
            )
        }
    }
}

async fn retry(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(id): Path<Uuid>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let (desk, actor) = (console.desk.clone(), signed.actor.clone());
    let retried = console
        .desk
        .execute(move |work| Box::pin(async move { desk.retry_outbox(work, &actor, id).await }))
        .await;
    match retried {
        Ok(()) => Ok(see_other("/console/admin#outbox")),
        Err(error @ (DeskError::NotFound(_) | DeskError::Conflict(_))) => {
            let (status, _) = describe(&error);
            render_status(
                status,
                &load(&console, &signed, Some(message(&error))).await?,
            )
        }
        Err(other) => Err(other.into()),
    }
}
