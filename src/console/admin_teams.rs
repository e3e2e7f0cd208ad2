//! Admin: teams and their members, how each assigns its tickets, ticket
//! categories and the team each routes to. The same desk use cases as
//! `POST /api/v1/teams`, `PATCH /api/v1/teams/{team}` (assignment),
//! `POST`/`DELETE /api/v1/teams/{team}/members` and
//! `POST /api/v1/categories` (the API has no change of a category after
//! creation, so neither has this page).

use std::collections::HashMap;

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
    layout::{Chrome, Section},
    render_status,
    session::{check_csrf, see_other, Form, Signed, SignedIn},
    Console, PageError,
};
use crate::desk::{teams::TeamChanges, DeskError};

pub fn router() -> Router<Console> {
    Router::new()
        .route("/console/admin/teams", get(page).post(create_team))
        .route("/console/admin/teams/{id}/members", post(add_member))
        .route("/console/admin/teams/{id}/assignment", post(set_assignment))
        .route(
            "/console/admin/teams/{id}/members/{person}/remove",
            post(remove_member),
        )
        .route("/console/admin/categories", post(create_category))
}

pub struct Named {
    pub id: Uuid,
    pub name: String,
}

pub struct TeamRow {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub lead: Option<String>,
    pub members: Vec<Named>,
    /// People who could join (not members yet, not disabled).
    pub candidates: Vec<Named>,
    /// The strategy's wire name (`none`, `round_robin`, …).
    pub assignment: String,
    /// The cap on open tickets per agent, blank for none.
    pub cap: String,
    pub errors: Vec<String>,
}

/// The strategies as the form offers them: wire name, label.
pub const STRATEGIES: [(&str, &str); 4] = [
    ("none", "None: tickets wait in the queue"),
    ("round_robin", "Round-robin"),
    ("least_loaded", "Least loaded (weighted by priority)"),
    ("skills", "By skills, then least loaded"),
];

pub struct CategoryRow {
    pub name: String,
    pub team: Option<String>,
}

#[derive(Default)]
pub struct TeamForm {
    pub name: String,
    pub description: String,
    pub lead: String,
    pub errors: Vec<String>,
}

#[derive(Default)]
pub struct CategoryForm {
    pub name: String,
    pub team: String,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_teams.html")]
struct TeamsPage {
    chrome: Chrome,
    tabs: Vec<Tab>,
    teams: Vec<TeamRow>,
    categories: Vec<CategoryRow>,
    people: Vec<Named>,
    new_team: TeamForm,
    new_category: CategoryForm,
    strategies: [(&'static str, &'static str); 4],
}

async fn load(console: &Console, signed: &SignedIn) -> Result<TeamsPage, DeskError> {
    signed.actor.require_admin()?;
    let actor = &signed.actor;
    let people = console.desk.list_people(actor).await?;
    let names: HashMap<Uuid, String> = people.iter().map(|p| (p.id, p.name.clone())).collect();
    let name_of = |id: &Uuid| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let teams = console.desk.list_teams(actor).await?;
    let team_names: HashMap<Uuid, String> = teams.iter().map(|t| (t.id, t.name.clone())).collect();
    let active: Vec<Named> = people
        .iter()
        .filter(|p| !p.disabled)
        .map(|p| Named {
            id: p.id,
            name: p.name.clone(),
        })
        .collect();
    let categories = console
        .desk
        .list_categories(actor)
        .await?
        .into_iter()
        .map(|c| CategoryRow {
            name: c.name,
            team: c
                .team
                .map(|t| team_names.get(&t).cloned().unwrap_or_else(|| t.to_string())),
        })
        .collect();
    let teams = teams
        .into_iter()
        .map(|t| TeamRow {
            id: t.id,
            lead: t.lead.as_ref().map(name_of),
            members: t
                .members
                .iter()
                .map(|m| Named {
                    id: *m,
                    name: name_of(m),
                })
                .collect(),
            candidates: active
                .iter()
                .filter(|p| !t.members.contains(&p.id))
                .map(|p| Named {
                    id: p.id,
                    name: p.name.clone(),
                })
                .collect(),
            name: t.name,
            description: t.description,
            assignment: t.assignment,
            cap: t
                .max_open_per_agent
                .map(|n| n.to_string())
                .unwrap_or_default(),
            errors: Vec::new(),
        })
        .collect();
    Ok(TeamsPage {
        chrome: Chrome::new(signed, Section::Admin, "Teams and categories"),
        tabs: tabs("/console/admin/teams"),
        teams,
        categories,
        people: active,
        new_team: TeamForm::default(),
        new_category: CategoryForm::default(),
        strategies: STRATEGIES,
    })
}

async fn page(
    State(console): State<Console>,
    Signed(signed): Signed,
) -> Result<Response, PageError> {
    render_status(StatusCode::OK, &load(&console, &signed).await?)
}

/// A person picked in a `<select>`: none for the empty choice; a value that
/// is no id is refused at the field, as the API refuses it.
fn picked(form: &Form, field: &'static str) -> Result<Option<Uuid>, DeskError> {
    match form.text(field) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| DeskError::invalid(field, "pick a person from the list")),
    }
}

async fn create_team(
    State(console): State<Console>,
    Signed(signed): Signed,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let typed = TeamForm {
        name: form.get("name").unwrap_or_default().trim().to_string(),
        description: form
            .get("description")
            .unwrap_or_default()
            .trim()
            .to_string(),
        lead: form.get("lead").unwrap_or_default().to_string(),
        errors: Vec::new(),
    };
    let created = match picked(&form, "lead") {
        Ok(lead) => {
            let (desk, actor) = (console.desk.clone(), signed.actor.clone());
            let (name, description) = (typed.name.clone(), typed.description.clone());
            console
                .desk
                .execute(move |work| {
                    Box::pin(async move {
                        desk.create_team(work, &actor, &name, &description, lead, &[])
                            .await
                    })
                })
                .await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(team) => Ok(see_other(&format!("/console/admin/teams#team-{}", team.id))),
        Err(error) => {
            let (status, errors) = refusal(error)?;
            let mut page = load(&console, &signed).await?;
            page.new_team = TeamForm { errors, ..typed };
            render_status(status, &page)
        }
    }
}

/// After a member form: back to the team, or the refusal at its card.
async fn after_member(
    console: &Console,
    signed: &SignedIn,
    team: Uuid,
    outcome: Result<(), DeskError>,
) -> Result<Response, PageError> {
    match outcome {
        Ok(()) => Ok(see_other(&format!("/console/admin/teams#team-{team}"))),
        Err(error) => {
            let (status, errors) = refusal(error)?;
            let mut page = load(console, signed).await?;
            match page.teams.iter_mut().find(|t| t.id == team) {
                Some(row) => row.errors = errors,
                None => return Err(PageError::Desk(DeskError::NotFound("team"))),
            }
            render_status(status, &page)
        }
    }
}

async fn set_member(
    console: &Console,
    signed: &SignedIn,
    team: Uuid,
    person: Uuid,
    member: bool,
) -> Result<(), DeskError> {
    let (desk, actor) = (console.desk.clone(), signed.actor.clone());
    console
        .desk
        .execute(move |work| {
            Box::pin(async move {
                desk.set_team_member(work, &actor, &team.to_string(), person, member)
                    .await
                    .map(|_| ())
            })
        })
        .await
}

async fn add_member(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(id): Path<Uuid>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let outcome = match picked(&form, "person") {
        Ok(Some(person)) => set_member(&console, &signed, id, person, true).await,
        Ok(None) => Err(DeskError::invalid("person", "pick a person from the list")),
        Err(e) => Err(e),
    };
    after_member(&console, &signed, id, outcome).await
}

/// The team's strategy and cap, as `PATCH /api/v1/teams/{team}` sets them.
async fn set_assignment(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path(id): Path<Uuid>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let cap = match form.text("max_open_per_agent") {
        None => Ok(None),
        Some(text) => text.parse::<i32>().map(Some).map_err(|_| {
            DeskError::invalid("max_open_per_agent", "a whole number, or blank for no cap")
        }),
    };
    let outcome = match cap {
        Ok(cap) => {
            let changes = TeamChanges {
                assignment: Some(form.text("assignment").unwrap_or_default()),
                max_open_per_agent: Some(cap),
                ..TeamChanges::default()
            };
            let (desk, actor) = (console.desk.clone(), signed.actor.clone());
            console
                .desk
                .execute(move |work| {
                    Box::pin(async move {
                        desk.update_team(work, &actor, &id.to_string(), changes)
                            .await
                            .map(|_| ())
                    })
                })
                .await
        }
        Err(e) => Err(e),
    };
    after_member(&console, &signed, id, outcome).await
}

async fn remove_member(
    State(console): State<Console>,
    Signed(signed): Signed,
    Path((id, person)): Path<(Uuid, Uuid)>,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let outcome = set_member(&console, &signed, id, person, false).await;
    after_member(&console, &signed, id, outcome).await
}

async fn create_category(
    State(console): State<Console>,
    Signed(signed): Signed,
    form: Form,
) -> Result<Response, PageError> {
    check_csrf(&signed, &form)?;
    let typed = CategoryForm {
        name: form.get("name").unwrap_or_default().trim().to_string(),
        team: form.get("team").unwrap_or_default().to_string(),
        errors: Vec::new(),
    };
    let (desk, actor) = (console.desk.clone(), signed.actor.clone());
    let (name, team) = (typed.name.clone(), form.text("team"));
    let created = console
        .desk
        .execute(move |work| {
            Box::pin(async move {
                desk.create_category(work, &actor, &name, team.as_deref())
                    .await
            })
        })
        .await;
    match created {
        Ok(_) => Ok(see_other("/console/admin/teams#categories")),
        Err(error) => {
            let (status, errors) = refusal(error)?;
            let mut page = load(&console, &signed).await?;
            page.new_category = CategoryForm { errors, ..typed };
            render_status(status, &page)
        }
    }
}
