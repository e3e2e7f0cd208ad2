//! `/api/v1/tickets/{number}/time`: log time on a ticket, read its entries
//! and totals (issue 23, item 5).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::post,
    Json, Router,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    error::{ApiError, Problem},
    extract::{respond, ApiJson, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::desk::tickets::{LogTime, TimeLog, TimeLogged};

pub fn router() -> Router<AppState> {
    Router::new().route("/tickets/{number}/time", post(log_time).get(list_time))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogTimeRequest {
    /// Whole minutes, 1 to 1440 (24 h) per entry.
    #[schema(example = 30)]
    pub minutes: i64,
    /// What was done.
    #[serde(default)]
    #[schema(example = "Reset the VPN profile")]
    pub note: String,
    /// Default `true`.
    pub billable: Option<bool>,
    /// When the work started (RFC 3339); default now; not in the future.
    pub started_at: Option<DateTime<Utc>>,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/time", tag = "tickets", request_body = LogTimeRequest,
    params(("number" = String, Path, description = "Ticket number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = TimeLogged), (status = 403, body = Problem, description = "Not an agent, manager or admin"),
              (status = 404, body = Problem), (status = 422, body = Problem, description = "Minutes not within 1–1440, or a future start")),
    security(("bearer" = [])))]
/// Logs time on a ticket (agents, managers, admins).
pub async fn log_time(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<LogTimeRequest>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/time"),
        &body.digest,
        StatusCode::CREATED,
    );
    let b = body.value;
    let input = LogTime {
        minutes: b.minutes,
        note: b.note,
        billable: b.billable,
        started_at: b.started_at,
    };
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .log_time(work, &actor, &number, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/time", tag = "tickets",
    params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = TimeLog), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
/// A ticket's time entries with their totals, overall and per agent.
pub async fn list_time(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<TimeLog>, ApiError> {
    Ok(Json(state.desk.list_time(&actor, &number).await?))
}
