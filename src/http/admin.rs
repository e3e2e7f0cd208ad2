//! `/api/v1/…` administration: people, teams, categories, webhook
//! subscriptions and the outbox.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{delete, get, post},
    Json, Router,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{respond, ApiJson, ApiQuery, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::desk::views::{CategoryView, OutboxView, PersonView, TeamView, WebhookView};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/people", get(list_people).post(create_person))
        .route(
            "/people/{id}",
            get(get_person).patch(super::access::update_person),
        )
        .route("/teams", get(list_teams).post(create_team))
        .route("/teams/{team}", get(get_team).patch(update_team))
        .route("/teams/{team}/members", post(add_member))
        .route("/teams/{team}/members/{person}", delete(remove_member))
        .route("/categories", get(list_categories).post(create_category))
        .route("/webhooks", get(list_webhooks).post(create_webhook))
        .route("/webhooks/{id}", delete(delete_webhook))
        .route("/outbox", get(list_outbox))
        .route("/outbox/{id}/retry", post(retry_outbox))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePerson {
    pub name: String,
    pub email: Option<String>,
    /// Any of `requester`, `agent`, `approver`, `manager`, `admin`.
    pub roles: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/people", tag = "people", request_body = CreatePerson,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = PersonView), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn create_person(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CreatePerson>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/people",
        &body.digest,
        StatusCode::CREATED,
    );
    let CreatePerson { name, email, roles } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk.create_person(
        work,
        &actor,
        &name,
        email.as_deref(),
        &roles
    ));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/people", tag = "people", responses((status = 200, body = [PersonView])), security(("bearer" = [])))]
pub async fn list_people(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<PersonView>>, ApiError> {
    Ok(Json(state.desk.list_people(&actor).await?))
}

#[utoipa::path(get, path = "/api/v1/people/{id}", tag = "people", params(("id" = Uuid, Path, description = "Person id")),
    responses((status = 200, body = PersonView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_person(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<PersonView>, ApiError> {
    Ok(Json(state.desk.get_person(&actor, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub lead: Option<Uuid>,
    #[serde(default)]
    pub members: Vec<Uuid>,
}

#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = CreateTeam,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = TeamView), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn create_team(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CreateTeam>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/teams",
        &body.digest,
        StatusCode::CREATED,
    );
    let CreateTeam {
        name,
        description,
        lead,
        members,
    } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk.create_team(
        work,
        &actor,
        &name,
        &description,
        lead,
        &members
    ));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/teams", tag = "teams", responses((status = 200, body = [TeamView])), security(("bearer" = [])))]
pub async fn list_teams(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<TeamView>>, ApiError> {
    Ok(Json(state.desk.list_teams(&actor).await?))
}

#[utoipa::path(get, path = "/api/v1/teams/{team}", tag = "teams", params(("team" = String, Path, description = "Team id or name")),
    responses((status = 200, body = TeamView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_team(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(team): Path<String>,
) -> Result<Json<TeamView>, ApiError> {
    Ok(Json(state.desk.get_team(&actor, &team).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTeam {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Person id; `null` removes the lead.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub lead: Option<Option<Uuid>>,
    /// Where the team's tickets are announced (e.g. a chat channel id); `null` clears.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub default_channel: Option<Option<String>>,
    /// Person escalations go to; `null` clears.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub escalation_contact: Option<Option<Uuid>>,
    /// How tickets reaching the team are assigned: `none` (they wait in
    /// the queue), `round_robin`, `least_loaded` (open tickets weighted by
    /// priority) or `skills` (the least loaded agent with every skill the
    /// ticket needs). Away, off-shift and capped agents are passed over.
    #[schema(example = "round_robin")]
    pub assignment: Option<String>,
    /// Agents holding this many open tickets get no more by assignment; `null` removes the cap.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<i32>)]
    pub max_open_per_agent: Option<Option<i32>>,
}

#[utoipa::path(patch, path = "/api/v1/teams/{team}", tag = "teams", request_body = UpdateTeam,
    params(("team" = String, Path, description = "Team id or name")),
    responses((status = 200, body = TeamView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_team(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(team): Path<String>,
    body: ApiJson<UpdateTeam>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let changes = crate::desk::teams::TeamChanges {
        name: b.name,
        description: b.description,
        lead: b.lead,
        default_channel: b.default_channel,
        escalation_contact: b.escalation_contact,
        assignment: b.assignment,
        max_open_per_agent: b.max_open_per_agent,
    };
    let outcome = run_use_case!(state, None::<crate::desk::Intake>, |desk, work| desk
        .update_team(work, &actor, &team, changes));
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub person: Uuid,
}

#[utoipa::path(post, path = "/api/v1/teams/{team}/members", tag = "teams", request_body = AddMember,
    params(("team" = String, Path, description = "Team id or name")),
    responses((status = 200, body = TeamView)), security(("bearer" = [])))]
pub async fn add_member(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(team): Path<String>,
    body: ApiJson<AddMember>,
) -> Result<Response, ApiError> {
    let person = body.value.person;
    let outcome = run_use_case!(state, None::<crate::desk::Intake>, |desk, work| desk
        .set_team_member(work, &actor, &team, person, true));
    Ok(respond(StatusCode::OK, outcome))
}

#[utoipa::path(delete, path = "/api/v1/teams/{team}/members/{person}", tag = "teams",
    params(("team" = String, Path, description = "Team id or name"), ("person" = Uuid, Path, description = "Person id")),
    responses((status = 200, body = TeamView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn remove_member(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((team, person)): Path<(String, Uuid)>,
) -> Result<Response, ApiError> {
    let outcome = run_use_case!(state, None::<crate::desk::Intake>, |desk, work| desk
        .set_team_member(work, &actor, &team, person, false));
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCategory {
    pub name: String,
    /// Team (name or id) that new tickets of this category go to.
    pub team: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/categories", tag = "categories", request_body = CreateCategory,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = CategoryView), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn create_category(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CreateCategory>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/categories",
        &body.digest,
        StatusCode::CREATED,
    );
    let CreateCategory { name, team } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk.create_category(
        work,
        &actor,
        &name,
        team.as_deref()
    ));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/categories", tag = "categories", responses((status = 200, body = [CategoryView])), security(("bearer" = [])))]
pub async fn list_categories(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<CategoryView>>, ApiError> {
    Ok(Json(state.desk.list_categories(&actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed.
    #[schema(example = "https://hooks.example.com/switchboard")]
    pub url: String,
    /// Event names (`ticket.created`, `ticket.updated`, `ticket.state_changed`, `ticket.assigned`,
    /// `ticket.commented`, `ticket.attachment_added`) or `*` (the default).
    #[serde(default)]
    pub events: Vec<String>,
    /// Signing secret (16+ characters); generated and shown once when absent.
    pub secret: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = CreateWebhook,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = WebhookView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CreateWebhook>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/webhooks",
        &body.digest,
        StatusCode::CREATED,
    );
    let CreateWebhook {
        url,
        events,
        secret,
    } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_webhook(work, &actor, &url, &events, secret));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", responses((status = 200, body = [WebhookView])), security(("bearer" = [])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    Ok(Json(state.desk.list_webhooks(&actor).await?))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = Uuid, Path, description = "Subscription id")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk.delete_webhook(work, &actor, id));
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// `pending`, `delivered` or `dead`.
    pub state: Option<String>,
    /// 1–500, default 100.
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/outbox", tag = "outbox", params(OutboxQuery),
    responses((status = 200, body = [OutboxView])), security(("bearer" = [])))]
pub async fn list_outbox(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> Result<Json<Vec<OutboxView>>, ApiError> {
    Ok(Json(
        state
            .desk
            .list_outbox(&actor, q.state.as_deref(), q.limit.unwrap_or(100))
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/outbox/{id}/retry", tag = "outbox", params(("id" = Uuid, Path, description = "Message id")),
    responses((status = 202), (status = 404, body = Problem), (status = 409, body = Problem, description = "The message is not dead-lettered")), security(("bearer" = [])))]
pub async fn retry_outbox(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk.retry_outbox(work, &actor, id));
    Ok(StatusCode::ACCEPTED)
}
