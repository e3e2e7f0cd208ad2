//! `/api/v1/sla/*`: business calendars, SLA policies and the compliance
//! report; `/api/v1/tickets/{number}/sla`: a ticket's SLA clocks.

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
    extract::{respond, ApiJson, ApiQuery, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::desk::sla::{
    CalendarInput, CalendarView, ComplianceQuery, ComplianceView, PolicyInput, PolicyView,
    TicketSlaView,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sla/calendars", get(list_calendars).post(create_calendar))
        .route(
            "/sla/calendars/{id}",
            get(get_calendar)
                .put(update_calendar)
                .delete(delete_calendar),
        )
        .route("/sla/policies", get(list_policies).post(create_policy))
        .route(
            "/sla/policies/{id}",
            get(get_policy).put(update_policy).delete(delete_policy),
        )
        .route("/sla/compliance", get(compliance))
        .route("/tickets/{number}/sla", get(ticket_sla))
}

#[utoipa::path(get, path = "/api/v1/sla/calendars", tag = "sla", responses((status = 200, body = [CalendarView])), security(("bearer" = [])))]
pub async fn list_calendars(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<CalendarView>>, ApiError> {
    Ok(Json(state.desk.list_calendars(&actor).await?))
}

#[utoipa::path(post, path = "/api/v1/sla/calendars", tag = "sla", request_body = CalendarInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = CalendarView), (status = 422, body = Problem, description = "Unknown zone, inverted or overlapping hours, named by place")),
    security(("bearer" = [])))]
pub async fn create_calendar(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CalendarInput>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/sla/calendars",
        &body.digest,
        StatusCode::CREATED,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_calendar(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/sla/calendars/{id}", tag = "sla", params(("id" = Uuid, Path, description = "Calendar id")),
    responses((status = 200, body = CalendarView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_calendar(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<CalendarView>, ApiError> {
    Ok(Json(state.desk.get_calendar(&actor, id).await?))
}

#[utoipa::path(put, path = "/api/v1/sla/calendars/{id}", tag = "sla", request_body = CalendarInput, params(("id" = Uuid, Path, description = "Calendar id")),
    responses((status = 200, body = CalendarView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_calendar(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    body: ApiJson<CalendarInput>,
) -> Result<Json<CalendarView>, ApiError> {
    let input = body.value;
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .update_calendar(work, &actor, id, input))))
}

#[utoipa::path(delete, path = "/api/v1/sla/calendars/{id}", tag = "sla", params(("id" = Uuid, Path, description = "Calendar id")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem, description = "A policy uses it")), security(("bearer" = [])))]
pub async fn delete_calendar(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk.delete_calendar(work, &actor, id));
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/sla/policies", tag = "sla", responses((status = 200, body = [PolicyView])), security(("bearer" = [])))]
pub async fn list_policies(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<PolicyView>>, ApiError> {
    Ok(Json(state.desk.list_sla_policies(&actor).await?))
}

#[utoipa::path(post, path = "/api/v1/sla/policies", tag = "sla", request_body = PolicyInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = PolicyView), (status = 422, body = Problem, description = "No targets, bad durations or thresholds, named by place")),
    security(("bearer" = [])))]
pub async fn create_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<PolicyInput>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/sla/policies",
        &body.digest,
        StatusCode::CREATED,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_sla_policy(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/sla/policies/{id}", tag = "sla", params(("id" = Uuid, Path, description = "Policy id")),
    responses((status = 200, body = PolicyView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<PolicyView>, ApiError> {
    Ok(Json(state.desk.get_sla_policy(&actor, id).await?))
}

#[utoipa::path(put, path = "/api/v1/sla/policies/{id}", tag = "sla", request_body = PolicyInput, params(("id" = Uuid, Path, description = "Policy id")),
    responses((status = 200, body = PolicyView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    body: ApiJson<PolicyInput>,
) -> Result<Json<PolicyView>, ApiError> {
    let input = body.value;
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .update_sla_policy(work, &actor, id, input))))
}

#[utoipa::path(delete, path = "/api/v1/sla/policies/{id}", tag = "sla", params(("id" = Uuid, Path, description = "Policy id")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk.delete_sla_policy(work, &actor, id));
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/sla/compliance", tag = "sla", params(ComplianceQuery),
    responses((status = 200, body = [ComplianceView]), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn compliance(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(query): ApiQuery<ComplianceQuery>,
) -> Result<Json<Vec<ComplianceView>>, ApiError> {
    Ok(Json(state.desk.sla_compliance(&actor, query).await?))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/sla", tag = "sla", params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = TicketSlaView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn ticket_sla(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<TicketSlaView>, ApiError> {
    Ok(Json(state.desk.ticket_sla(&actor, &number).await?))
}
