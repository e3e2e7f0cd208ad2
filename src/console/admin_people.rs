//! Admin: people and their roles. Invite someone (`Desk::invite`, as
//! `POST /api/v1/invitations`: the desk mails the link), change a person's
//! name and roles or disable them (`Desk::update_person`, as
//! `PATCH /api/v1/people/{id}`). A refused form is shown again with the
//! desk's words at that form and what was typed; nothing changed.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Router,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    admin::{refusal, tabs, Tab},
    layout::{Chrome, Section},
    render_status,
    session::{check_csrf, see_other, Form, Signed, SignedIn},
    Console, PageError,
};
use crate::desk::{people::PersonChanges, views::PersonView, DeskError};

/// The roles a person may hold, as the desk names them.
const ROLES: [&str; 5] = ["requester", "agent", "approver", "manager", "admin"];

pub fn router() -> Router<Console> {
    Router::new()
        .route("/console/admin/people", get(page))
        .route("/console/admin/people/invite", post(invite))
        .route("/console/admin/people/{id}", post(update))
}

pub struct RoleBox {
    pub name: &'static str,
    pub checked: bool,
}

fn role_boxes(held: &[String]) -> Vec<RoleBox> {
    ROLES
        .iter()
        .map(|&name| RoleBox {
            name,
            checked: held.iter().any(|r| r == name),
        })
        .collect()
}

/// One person's row with its form (as stored, or as typed when refused).
pub struct PersonRow {
    pub person: PersonView,
    pub name: String,
    pub roles: Vec<RoleBox>,
    pub disabled: bool,
    pub errors: Vec<String>,
}

pub struct InviteForm {
    pub email: String,
    pub name: String,
    pub roles: Vec<RoleBox>,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_people.html")]
struct PeoplePage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    people: Vec<PersonRow>,
    invite: InviteForm,
    /// The address an invitation was just sent to.
    invited: Option<String>,
}

async fn load(console: &Console, signed: &SignedIn) -> Result<PeoplePage, DeskError> {
    signed.actor.require_admin()?;
    let people = console.desk.list_people(&signed.actor).await?;
    Ok(PeoplePage {
        chrome: Chrome::new(signed, Section::Admin, "People"),
        tabs: tabs("/console/admin/people"),
        people: people
            .into_iter()
            .map(|person| PersonRow {
                name: person.name.clone(),
                roles: role_boxes(&person.roles),
                disabled: person.disabled,
                errors: Vec::new(),
                person,
            })
            .collect(),
        invite: InviteForm {
            email: String::new(),
            name: String::new(),
            roles: role_boxes(&["requester".to_string()]),
            errors: Vec::new(),
        },
        invited: None,
    })
}

#[derive(Deserialize)]
struct PeopleQuery {
    invited: Option<String>,
}

async fn page(
    State(console): State<Console>,
    Signed(signed): Signed,
    Query(q): Query<PeopleQuery>,
) -> Result<Response, PageError> {
    let mut page = load(&console, &signed).await?;
    page.invited = q.invited.filter(|e| !e.trim().is_empty());
    render_status(StatusCode::OK, &page)
}

async fn invite(
    State(console): State<Console>,
    Signed(signed): Signed,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let email = form.get("email").unwrap_or_default().trim().to_string();
    let name = form.get("name").unwrap_or_default().trim().to_string();
    let roles = form.all("role");
    let (desk, actor) = (console.desk.clone(), signed.actor.clone());
    let (e, n, r) = (email.clone(), name.clone(), roles.clone());
    let invited = console
        .desk
        .execute(move |work| Box::pin(async move { desk.invite(work, &actor, &e, &n, &r).await }))
        .await;
    match invited {
        Ok(_) => {
            let to: String = url::form_urlencoded::byte_serialize(email.as_bytes()).collect();
            Ok(see_other(&format!("/console/admin/people?invited={to}")))
        }
        Err(error) => {
            let (status, errors) = refusal(error)?;
            let mut page = load(&console, &signed).await?;
            page.invite = InviteForm {
                email,
                name,
                roles: role_boxes(&roles),
                errors,
            };
            render_status(status, &page)
        }
    }
}

async fn update(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(id): Path<Uuid>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let name = form.get("name").unwrap_or_default().trim().to_string();
    let roles = form.all("role");
    let disabled = form.checked("disabled");
    let changes = PersonChanges {
        name: Some(name.clone()),
        roles: Some(roles.clone()),
        disabled: Some(disabled),
    };
    let (desk, actor) = (console.desk.clone(), signed.actor.clone());
    let updated = console
        .desk
        .execute(move |work| {
            Box::pin(async move { desk.update_person(work, &actor, id, changes).await })
        })
        .await;
    match updated {
        Ok(_) => Ok(see_other(&format!("/console/admin/people#person-{id}"))),
        Err(error) => {
            let (status, errors) = refusal(error)?;
            let mut page = load(&console, &signed).await?;
            match page.people.iter_mut().find(|p| p.person.id == id) {
                Some(row) => {
                    row.name = name;
                    row.roles = role_boxes(&roles);
                    row.disabled = disabled;
                    row.errors = errors;
                }
                None => return Err(PageError::Desk(DeskError::NotFound("person"))),
            }
            render_status(status, &page)
        }
    }
}
