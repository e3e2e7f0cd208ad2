//! `/api/v1/rules`: automation rules (when + if + then), in run order.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::get,
    Json, Router,
};
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{respond, ApiJson, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::desk::automation::{RuleInput, RuleView};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rules", get(list_rules).post(create_rule))
        .route(
            "/rules/{id}",
            get(get_rule).put(update_rule).delete(delete_rule),
        )
}

#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", responses((status = 200, body = [RuleView])), security(("bearer" = [])))]
pub async fn list_rules(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<RuleView>>, ApiError> {
    Ok(Json(state.desk.list_rules(&actor).await?))
}

#[utoipa::path(post, path = "/api/v1/rules", tag = "rules", request_body = RuleInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = RuleView), (status = 422, body = Problem, description = "Unknown fields, triggers or actions, named by place")),
    security(("bearer" = [])))]
pub async fn create_rule(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<RuleInput>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/rules",
        &body.digest,
        StatusCode::CREATED,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_rule(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/rules/{id}", tag = "rules", params(("id" = Uuid, Path, description = "Rule id")),
    responses((status = 200, body = RuleView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_rule(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<RuleView>, ApiError> {
    Ok(Json(state.desk.get_rule(&actor, id).await?))
}

#[utoipa::path(put, path = "/api/v1/rules/{id}", tag = "rules", request_body = RuleInput, params(("id" = Uuid, Path, description = "Rule id")),
    responses((status = 200, body = RuleView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_rule(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    body: ApiJson<RuleInput>,
) -> Result<Json<RuleView>, ApiError> {
    let input = body.value;
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .update_rule(work, &actor, id, input))))
}

#[utoipa::path(delete, path = "/api/v1/rules/{id}", tag = "rules", params(("id" = Uuid, Path, description = "Rule id")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete_rule(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk.delete_rule(work, &actor, id));
    Ok(StatusCode::NO_CONTENT)
}
