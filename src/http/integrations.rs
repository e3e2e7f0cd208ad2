//! `/api/v1/integrations` (admins: the monitoring systems whose alerts open
//! incidents) and an incident's alerts (`/tickets/{number}/alerts`, and
//! `/silence` as the chat button does).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{double_option, respond, ApiJson, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::desk::{
    alerts::AlertView,
    integrations::{CreateIntegration, IntegrationView, UpdateIntegration},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/integrations", get(list).post(create))
        .route(
            "/integrations/{id}",
            get(get_one).patch(update).delete(disable),
        )
        .route("/integrations/{id}/rotate-secret", post(rotate))
        .route("/tickets/{number}/alerts", get(ticket_alerts))
        .route("/tickets/{number}/silence", post(silence))
}

#[utoipa::path(post, path = "/api/v1/integrations", tag = "integrations", request_body = CreateIntegration,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = IntegrationView, description = "With its `url`, its secret `token` (shown once) and, for events_v2, its `routing_key`"),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CreateIntegration>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/integrations",
        &body.digest,
        StatusCode::CREATED,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_integration(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations",
    responses((status = 200, body = [IntegrationView])), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<IntegrationView>>, ApiError> {
    Ok(Json(state.desk.list_integrations(&actor).await?))
}

#[utoipa::path(get, path = "/api/v1/integrations/{id}", tag = "integrations",
    params(("id" = Uuid, Path, description = "Integration id")),
    responses((status = 200, body = IntegrationView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<IntegrationView>, ApiError> {
    Ok(Json(state.desk.get_integration(&actor, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchIntegration {
    name: Option<String>,
    enabled: Option<bool>,
    /// Team name or id; `null` clears.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    team: Option<Option<String>>,
    /// Escalation policy name or id; `null` clears.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    escalation_policy: Option<Option<String>>,
    /// Merged into the mapping (RFC 7386; `null` restores a default).
    #[schema(value_type = Object)]
    settings: Option<Value>,
}

#[utoipa::path(patch, path = "/api/v1/integrations/{id}", tag = "integrations", request_body = PatchIntegration,
    params(("id" = Uuid, Path, description = "Integration id")),
    responses((status = 200, body = IntegrationView), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    body: ApiJson<PatchIntegration>,
) -> Result<Json<IntegrationView>, ApiError> {
    let b = body.value;
    let input = UpdateIntegration {
        name: b.name,
        enabled: b.enabled,
        team: b.team,
        escalation_policy: b.escalation_policy,
        settings: b.settings,
    };
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .update_integration(work, &actor, id, input))))
}

#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "integrations",
    params(("id" = Uuid, Path, description = "Integration id")),
    responses((status = 200, body = IntegrationView, description = "Disabled: its webhooks get 401; its incidents stay"),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn disable(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<IntegrationView>, ApiError> {
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .disable_integration(work, &actor, id))))
}

#[utoipa::path(post, path = "/api/v1/integrations/{id}/rotate-secret", tag = "integrations",
    params(("id" = Uuid, Path, description = "Integration id")),
    responses((status = 200, body = IntegrationView, description = "With the new `token` (and `routing_key`); the old one stops working"),
        (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<IntegrationView>, ApiError> {
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .rotate_integration_secret(work, &actor, id))))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/alerts", tag = "integrations",
    params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = [AlertView]), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn ticket_alerts(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    Ok(Json(state.desk.ticket_alerts(&actor, &number).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Silenced {
    pub silenced_until: chrono::DateTime<chrono::Utc>,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/silence", tag = "integrations",
    params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = Silenced, description = "Escalation acknowledged; for an hour the group's firings neither reopen nor open an incident"),
        (status = 409, body = Problem, description = "Not an incident opened by an alert")),
    security(("bearer" = [])))]
pub async fn silence(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<Silenced>, ApiError> {
    let until = exec_use_case!(state, |desk, work| desk
        .silence_alert_incident(work, &actor, &number));
    Ok(Json(Silenced {
        silenced_until: until,
    }))
}
