//! `/api/v1/escalation-policies`, `/api/v1/teams/{team}/on-call` and a
//! ticket's escalation (`/escalation`, `/acknowledge`).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Json, Router,
};
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{respond, ApiJson, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::desk::escalation::{
    EscalationPolicyInput, EscalationPolicyView, OnCallView, RotationInput, TicketEscalationView,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/escalation-policies",
            get(list_policies).post(create_policy),
        )
        .route(
            "/escalation-policies/{id}",
            get(get_policy).put(update_policy).delete(delete_policy),
        )
        .route("/teams/{team}/on-call", get(get_on_call).put(set_on_call))
        .route("/tickets/{number}/escalation", get(ticket_escalation))
        .route("/tickets/{number}/acknowledge", post(acknowledge))
}

#[utoipa::path(get, path = "/api/v1/escalation-policies", tag = "escalation", responses((status = 200, body = [EscalationPolicyView])), security(("bearer" = [])))]
pub async fn list_policies(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<EscalationPolicyView>>, ApiError> {
    Ok(Json(state.desk.list_escalation_policies(&actor).await?))
}

#[utoipa::path(post, path = "/api/v1/escalation-policies", tag = "escalation", request_body = EscalationPolicyInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = EscalationPolicyView), (status = 422, body = Problem, description = "Bad steps, named by place")),
    security(("bearer" = [])))]
pub async fn create_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<EscalationPolicyInput>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/escalation-policies",
        &body.digest,
        StatusCode::CREATED,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_escalation_policy(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/escalation-policies/{id}", tag = "escalation", params(("id" = Uuid, Path, description = "Policy id")),
    responses((status = 200, body = EscalationPolicyView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<EscalationPolicyView>, ApiError> {
    Ok(Json(state.desk.get_escalation_policy(&actor, id).await?))
}

#[utoipa::path(put, path = "/api/v1/escalation-policies/{id}", tag = "escalation", request_body = EscalationPolicyInput, params(("id" = Uuid, Path, description = "Policy id")),
    responses((status = 200, body = EscalationPolicyView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    body: ApiJson<EscalationPolicyInput>,
) -> Result<Json<EscalationPolicyView>, ApiError> {
    let input = body.value;
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .update_escalation_policy(work, &actor, id, input))))
}

#[utoipa::path(delete, path = "/api/v1/escalation-policies/{id}", tag = "escalation", params(("id" = Uuid, Path, description = "Policy id")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk
        .delete_escalation_policy(work, &actor, id));
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/teams/{team}/on-call", tag = "escalation", params(("team" = String, Path, description = "Team id or name")),
    responses((status = 200, body = OnCallView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_on_call(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(team): Path<String>,
) -> Result<Json<OnCallView>, ApiError> {
    Ok(Json(state.desk.get_on_call(&actor, &team).await?))
}

#[utoipa::path(put, path = "/api/v1/teams/{team}/on-call", tag = "escalation", request_body = RotationInput, params(("team" = String, Path, description = "Team id or name")),
    responses((status = 200, body = OnCallView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn set_on_call(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(team): Path<String>,
    body: ApiJson<RotationInput>,
) -> Result<Json<OnCallView>, ApiError> {
    let input = body.value;
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .set_on_call(work, &actor, &team, input))))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/escalation", tag = "escalation", params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = TicketEscalationView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn ticket_escalation(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<TicketEscalationView>, ApiError> {
    Ok(Json(state.desk.ticket_escalation(&actor, &number).await?))
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/acknowledge", tag = "escalation", params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = TicketEscalationView, description = "Pending escalation steps stop"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn acknowledge(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<TicketEscalationView>, ApiError> {
    Ok(Json(
        exec_use_case!(state, |desk, work| desk.acknowledge(work, &actor, &number))
    ))
}
