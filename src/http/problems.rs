//! `/api/v1/problems/…` (a problem's record, its incidents, resolving it),
//! `/api/v1/known-errors…` (the KEDB) and the incident routes under
//! `/api/v1/tickets/{number}/…`: problem, suggestions, known errors, major
//! flag, escalation level, parent and children.

use axum::{
    extract::{Path, State},
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
    extract::{respond, ApiJson, ApiQuery, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::desk::{
    problems::{
        IncidentProblem, KnownErrorChanges, KnownErrorInput, KnownErrorLink, KnownErrorView,
        ProblemChanges, ProblemResolution, ProblemView, ResolveProblem, TicketRef,
    },
    views::TicketView,
    Intake,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/problems/{number}", get(get_problem).patch(update_problem))
        .route(
            "/problems/{number}/incidents",
            get(problem_incidents).post(link_incident),
        )
        .route(
            "/problems/{number}/incidents/{incident}",
            axum::routing::delete(unlink_incident),
        )
        .route("/problems/{number}/resolve", post(resolve_problem))
        .route(
            "/known-errors",
            get(search_known_errors).post(create_known_error),
        )
        .route(
            "/known-errors/{id}",
            get(get_known_error).patch(update_known_error),
        )
        .route("/tickets/{number}/problem", get(incident_problem))
        .route("/tickets/{number}/suggestions", get(suggestions))
        .route(
            "/tickets/{number}/known-errors",
            get(ticket_known_errors).post(link_known_error),
        )
        .route("/tickets/{number}/major", post(set_major))
        .route("/tickets/{number}/escalation", post(set_escalation))
        .route(
            "/tickets/{number}/parent",
            axum::routing::put(set_parent).delete(clear_parent),
        )
        .route("/tickets/{number}/children", get(children))
}

#[utoipa::path(get, path = "/api/v1/problems/{number}", tag = "problems",
    params(("number" = String, Path, description = "Problem number, e.g. PRB0000001")),
    responses((status = 200, body = ProblemView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_problem(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<ProblemView>, ApiError> {
    Ok(Json(state.desk.get_problem(&actor, &number).await?))
}

#[utoipa::path(patch, path = "/api/v1/problems/{number}", tag = "problems", request_body = ProblemChanges,
    params(("number" = String, Path, description = "Problem number")),
    responses((status = 200, body = ProblemView), (status = 422, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn update_problem(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
    body: ApiJson<ProblemChanges>,
) -> Result<Response, ApiError> {
    let changes = body.value;
    let outcome = run_use_case!(state, None::<Intake>, |desk, work| desk
        .update_problem(work, &actor, &number, changes));
    Ok(respond(StatusCode::OK, outcome))
}

#[utoipa::path(get, path = "/api/v1/problems/{number}/incidents", tag = "problems",
    params(("number" = String, Path, description = "Problem number")),
    responses((status = 200, body = [TicketRef]), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn problem_incidents(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<TicketRef>>, ApiError> {
    Ok(Json(state.desk.problem_incidents(&actor, &number).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIncident {
    /// Incident number, e.g. `INC0000042`.
    pub incident: String,
}

#[utoipa::path(post, path = "/api/v1/problems/{number}/incidents", tag = "problems", request_body = LinkIncident,
    params(("number" = String, Path, description = "Problem number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = [TicketRef], description = "The problem's incidents now"),
        (status = 409, body = Problem, description = "Linked to another problem, or the problem is finished"),
        (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn link_incident(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<LinkIncident>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/problems/{number}/incidents"),
        &body.digest,
        StatusCode::OK,
    );
    let incident = body.value.incident;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .link_incident_to_problem(work, &actor, &number, &incident));
    Ok(respond(StatusCode::OK, outcome))
}

#[utoipa::path(delete, path = "/api/v1/problems/{number}/incidents/{incident}", tag = "problems",
    params(("number" = String, Path, description = "Problem number"), ("incident" = String, Path, description = "Incident number")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn unlink_incident(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((number, incident)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk
        .unlink_problem_incident(work, &actor, &number, &incident));
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/problems/{number}/resolve", tag = "problems", request_body = ResolveProblem,
    params(("number" = String, Path, description = "Problem number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = ProblemResolution), (status = 409, body = Problem, description = "Illegal transition")),
    security(("bearer" = [])))]
pub async fn resolve_problem(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<ResolveProblem>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/problems/{number}/resolve"),
        &body.digest,
        StatusCode::OK,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .resolve_problem(work, &actor, &number, input));
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KnownErrorQueryParams {
    /// Search text (web-search syntax on Postgres: words, "phrases", `or`,
    /// `-word`); results most relevant first. Without it: newest first.
    pub q: Option<String>,
    /// Without `q`: list inactive known errors too.
    pub include_inactive: Option<bool>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/known-errors", tag = "known_errors", params(KnownErrorQueryParams),
    responses((status = 200, body = [KnownErrorView]), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn search_known_errors(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(q): ApiQuery<KnownErrorQueryParams>,
) -> Result<Json<Vec<KnownErrorView>>, ApiError> {
    Ok(Json(
        state
            .desk
            .search_known_errors(
                &actor,
                q.q.as_deref(),
                q.include_inactive.unwrap_or(false),
                q.limit,
            )
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/known-errors", tag = "known_errors", request_body = KnownErrorInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = KnownErrorView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_known_error(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<KnownErrorInput>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/known-errors",
        &body.digest,
        StatusCode::CREATED,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_known_error(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/known-errors/{id}", tag = "known_errors",
    params(("id" = Uuid, Path, description = "Known error id")),
    responses((status = 200, body = KnownErrorView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_known_error(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<KnownErrorView>, ApiError> {
    Ok(Json(state.desk.get_known_error(&actor, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/known-errors/{id}", tag = "known_errors", request_body = KnownErrorChanges,
    params(("id" = Uuid, Path, description = "Known error id")),
    responses((status = 200, body = KnownErrorView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_known_error(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    body: ApiJson<KnownErrorChanges>,
) -> Result<Response, ApiError> {
    let changes = body.value;
    let outcome = run_use_case!(state, None::<Intake>, |desk, work| desk
        .update_known_error(work, &actor, id, changes));
    Ok(respond(StatusCode::OK, outcome))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/problem", tag = "tickets",
    params(("number" = String, Path, description = "Incident number")),
    responses((status = 200, body = IncidentProblem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn incident_problem(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<IncidentProblem>, ApiError> {
    Ok(Json(state.desk.incident_problem(&actor, &number).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestionQuery {
    /// 1–100, default 5.
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/suggestions", tag = "tickets",
    params(("number" = String, Path, description = "Ticket number"), SuggestionQuery),
    responses((status = 200, body = [KnownErrorView], description = "Active known errors matching the ticket's title and description, most relevant first"),
        (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn suggestions(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
    ApiQuery(q): ApiQuery<SuggestionQuery>,
) -> Result<Json<Vec<KnownErrorView>>, ApiError> {
    Ok(Json(
        state
            .desk
            .suggest_known_errors(&actor, &number, q.limit)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/known-errors", tag = "tickets",
    params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = [KnownErrorView]), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn ticket_known_errors(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<KnownErrorView>>, ApiError> {
    Ok(Json(state.desk.ticket_known_errors(&actor, &number).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkKnownError {
    pub known_error: Uuid,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/known-errors", tag = "tickets", request_body = LinkKnownError,
    params(("number" = String, Path, description = "Incident number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = KnownErrorLink, description = "Linked; the incident is linked to the known error's problem and the workaround added as an internal note"),
        (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn link_known_error(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<LinkKnownError>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/known-errors"),
        &body.digest,
        StatusCode::OK,
    );
    let known_error = body.value.known_error;
    let outcome = run_use_case!(state, intake, |desk, work| desk.link_known_error(
        work,
        &actor,
        &number,
        known_error
    ));
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MajorRequest {
    /// `true` declares a major incident, `false` clears the flag.
    pub major: bool,
    /// Why; kept in the audit log and the event.
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/major", tag = "tickets", request_body = MajorRequest,
    params(("number" = String, Path, description = "Incident number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = TicketView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn set_major(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<MajorRequest>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/major"),
        &body.digest,
        StatusCode::OK,
    );
    let MajorRequest { major, reason } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .set_major(work, &actor, &number, major, reason));
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationRequest {
    /// 0 (not escalated) to 10.
    pub level: i64,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/escalation", tag = "tickets", request_body = EscalationRequest,
    params(("number" = String, Path, description = "Ticket number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = TicketView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn set_escalation(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<EscalationRequest>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/escalation"),
        &body.digest,
        StatusCode::OK,
    );
    let level = body.value.level;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .set_escalation_level(work, &actor, &number, level));
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParentRequest {
    /// The parent incident's number.
    pub parent: String,
}

#[utoipa::path(put, path = "/api/v1/tickets/{number}/parent", tag = "tickets", request_body = ParentRequest,
    params(("number" = String, Path, description = "Child incident number")),
    responses((status = 200, body = TicketView), (status = 409, body = Problem), (status = 422, body = Problem, description = "Not incidents, a cycle, a parent that is a child, a child that is a parent")),
    security(("bearer" = [])))]
pub async fn set_parent(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
    body: ApiJson<ParentRequest>,
) -> Result<Response, ApiError> {
    let parent = body.value.parent;
    let outcome = run_use_case!(state, None::<Intake>, |desk, work| desk
        .set_parent(work, &actor, &number, &parent));
    Ok(respond(StatusCode::OK, outcome))
}

#[utoipa::path(delete, path = "/api/v1/tickets/{number}/parent", tag = "tickets",
    params(("number" = String, Path, description = "Child incident number")),
    responses((status = 200, body = TicketView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn clear_parent(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<TicketView>, ApiError> {
    Ok(Json(
        exec_use_case!(state, |desk, work| desk.clear_parent(work, &actor, &number))
    ))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/children", tag = "tickets",
    params(("number" = String, Path, description = "Parent incident number")),
    responses((status = 200, body = [TicketRef]), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn children(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<TicketRef>>, ApiError> {
    Ok(Json(state.desk.child_incidents(&actor, &number).await?))
}
