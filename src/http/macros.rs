//! `/api/v1/macros`: canned responses with field changes (issue 23 item
//! 4), and `POST /api/v1/tickets/{number}/macros/{macro}` applying one —
//! the same use case as `/macro` in Slack and Discord.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{double_option, respond, ApiJson, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::{
    desk::macros::{MacroApplied, MacroInput, MacroPatch, MacroView},
    domain::macros::MacroChanges,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/macros", get(list_macros).post(create_macro))
        .route(
            "/macros/{id}",
            get(get_macro).patch(update_macro).delete(delete_macro),
        )
        .route("/tickets/{number}/macros/{macro}", post(apply_macro))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MacroQuery {
    /// A team name or id: only the macros its tickets may take (the
    /// organization's and the team's).
    pub team: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/macros", tag = "macros", params(MacroQuery),
    responses((status = 200, body = [MacroView]), (status = 403, body = Problem), (status = 422, body = Problem, description = "No such team")),
    security(("bearer" = [])))]
/// The organization's macros (agents, managers, admins).
pub async fn list_macros(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Query(query): Query<MacroQuery>,
) -> Result<Json<Vec<MacroView>>, ApiError> {
    Ok(Json(
        state
            .desk
            .list_macros(&actor, query.team.as_deref())
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/macros", tag = "macros", request_body = MacroInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = MacroView),
              (status = 403, body = Problem, description = "The organization's macros need an admin; a team's, an admin or one of its managers"),
              (status = 409, body = Problem, description = "The scope already has a macro of that name"),
              (status = 422, body = Problem, description = "Unknown placeholders, states, levels, teams or people, named by field")),
    security(("bearer" = [])))]
/// Saves a macro for the organization or one team.
pub async fn create_macro(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<MacroInput>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/macros",
        &body.digest,
        StatusCode::CREATED,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_macro(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/macros/{id}", tag = "macros", params(("id" = Uuid, Path, description = "Macro id")),
    responses((status = 200, body = MacroView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_macro(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<MacroView>, ApiError> {
    Ok(Json(state.desk.get_macro(&actor, id).await?))
}

/// A change to a macro; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MacroPatchRequest {
    pub name: Option<String>,
    /// A team name or id; `null` makes it the organization's macro.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub team: Option<Option<String>>,
    pub body: Option<String>,
    pub internal: Option<bool>,
    /// Replaces the changes as a whole.
    #[schema(value_type = Option<Object>)]
    pub changes: Option<MacroChanges>,
}

#[utoipa::path(patch, path = "/api/v1/macros/{id}", tag = "macros", request_body = MacroPatchRequest,
    params(("id" = Uuid, Path, description = "Macro id")),
    responses((status = 200, body = MacroView), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn update_macro(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    body: ApiJson<MacroPatchRequest>,
) -> Result<Json<MacroView>, ApiError> {
    let b = body.value;
    let patch = MacroPatch {
        name: b.name,
        team: b.team,
        body: b.body,
        internal: b.internal,
        changes: b.changes,
    };
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .update_macro(work, &actor, id, patch))))
}

#[utoipa::path(delete, path = "/api/v1/macros/{id}", tag = "macros", params(("id" = Uuid, Path, description = "Macro id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete_macro(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk.delete_macro(work, &actor, id));
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/macros/{macro}", tag = "macros",
    params(("number" = String, Path, description = "Ticket number"),
           ("macro" = String, Path, description = "Macro id, or its name (the ticket's team's before the organization's)"),
           ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = MacroApplied), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "Another team's macro, or a transition the ticket cannot make (the allowed ones are named)"),
              (status = 422, body = Problem, description = "A change the ticket refuses, named by field")),
    security(("bearer" = [])))]
/// Applies a macro: its reply and every change, or nothing.
pub async fn apply_macro(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path((number, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/macros/{name}"),
        "",
        StatusCode::OK,
    );
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .apply_macro(work, &actor, &number, &name));
    Ok(respond(StatusCode::OK, outcome))
}
