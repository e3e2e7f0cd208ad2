//! Change management: `/api/v1/changes/…` (create, read, plan the window,
//! assess risk, review), `/api/v1/change-templates`, `/api/v1/freeze-windows`
//! and the tasks of changes and requests (`/api/v1/tickets/{number}/tasks`).

use std::collections::BTreeMap;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{get, patch, post, put},
    Json, Router,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{respond, ApiJson, ApiQuery, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::{
    desk::changes::{ChangeView, FreezeView, NewChange, ReviewInput, TaskView, TemplateView},
    domain::change::{RiskQuestion, RISK_QUESTIONS},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/changes", post(create_change))
        .route("/changes/risk-questionnaire", get(risk_questionnaire))
        .route("/changes/{number}", get(get_change))
        .route("/changes/{number}/window", put(plan))
        .route("/changes/{number}/conflicts", get(conflicts))
        .route("/changes/{number}/risk", put(assess_risk))
        .route("/changes/{number}/review", put(review))
        .route(
            "/change-templates",
            get(list_templates).post(create_template),
        )
        .route("/freeze-windows", get(list_freezes).post(create_freeze))
        .route("/tickets/{number}/tasks", get(list_tasks).post(add_task))
        .route("/tickets/{number}/tasks/{id}", patch(update_task))
}

#[utoipa::path(post, path = "/api/v1/changes", tag = "changes", request_body = NewChange,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = ChangeView), (status = 409, body = Problem, description = "The window conflicts"), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_change(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<NewChange>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/changes",
        &body.digest,
        StatusCode::CREATED,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_change(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuestionView {
    pub key: String,
    pub text: String,
    /// Each answer with its weight.
    #[schema(value_type = Object)]
    pub answers: BTreeMap<String, u32>,
}

impl From<&RiskQuestion> for QuestionView {
    fn from(q: &RiskQuestion) -> Self {
        Self {
            key: q.key.into(),
            text: q.text.into(),
            answers: q.answers.iter().map(|(a, w)| (a.to_string(), *w)).collect(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/changes/risk-questionnaire", tag = "changes",
    responses((status = 200, body = [QuestionView], description = "Scores add up: 0–5 low, 6–11 medium, 12 and more high")), security(("bearer" = [])))]
pub async fn risk_questionnaire(Auth(actor): Auth) -> Result<Json<Vec<QuestionView>>, ApiError> {
    actor.require_agent()?;
    Ok(Json(
        RISK_QUESTIONS.iter().map(QuestionView::from).collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/changes/{number}", tag = "changes", params(("number" = String, Path, description = "Change number")),
    responses((status = 200, body = ChangeView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_change(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<ChangeView>, ApiError> {
    Ok(Json(state.desk.get_change(&actor, &number).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanWindow {
    pub planned_start: DateTime<Utc>,
    pub planned_end: DateTime<Utc>,
    /// Approval policy (id or name) instead of the type's default.
    pub approval_policy: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/changes/{number}/window", tag = "changes", request_body = PlanWindow, params(("number" = String, Path, description = "Change number")),
    responses((status = 200, body = ChangeView), (status = 409, body = Problem, description = "Conflicts with other changes on the same CIs or a freeze")), security(("bearer" = [])))]
pub async fn plan(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
    body: ApiJson<PlanWindow>,
) -> Result<Json<ChangeView>, ApiError> {
    let PlanWindow {
        planned_start,
        planned_end,
        approval_policy,
    } = body.value;
    Ok(Json(exec_use_case!(state, |desk, work| desk.plan_change(
        work,
        &actor,
        &number,
        planned_start,
        planned_end,
        approval_policy
    ))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// Proposed start; by default the planned one.
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/api/v1/changes/{number}/conflicts", tag = "changes", params(("number" = String, Path, description = "Change number"), WindowQuery),
    responses((status = 200, body = [Object], description = "Conflicts the window has or would have")), security(("bearer" = [])))]
pub async fn conflicts(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> Result<Json<Vec<crate::domain::change::Conflict>>, ApiError> {
    let change = state.desk.get_change(&actor, &number).await?;
    match (
        q.start.or(change.planned_start),
        q.end.or(change.planned_end),
    ) {
        (Some(start), Some(end)) => Ok(Json(
            state
                .desk
                .preview_conflicts(&actor, &number, start, end)
                .await?,
        )),
        _ => Ok(Json(Vec::new())),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskInput {
    /// Question key → answer, see `GET /api/v1/changes/risk-questionnaire`.
    #[schema(value_type = Object)]
    pub answers: BTreeMap<String, String>,
}

#[utoipa::path(put, path = "/api/v1/changes/{number}/risk", tag = "changes", request_body = RiskInput, params(("number" = String, Path, description = "Change number")),
    responses((status = 200, body = ChangeView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn assess_risk(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
    body: ApiJson<RiskInput>,
) -> Result<Json<ChangeView>, ApiError> {
    let answers = body.value.answers;
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .assess_change_risk(work, &actor, &number, answers))))
}

#[utoipa::path(put, path = "/api/v1/changes/{number}/review", tag = "changes", request_body = ReviewInput, params(("number" = String, Path, description = "Change number")),
    responses((status = 200, body = ChangeView), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn review(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
    body: ApiJson<ReviewInput>,
) -> Result<Json<ChangeView>, ApiError> {
    let input = body.value;
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .review_change(work, &actor, &number, input))))
}

#[utoipa::path(get, path = "/api/v1/change-templates", tag = "changes", responses((status = 200, body = [TemplateView])), security(("bearer" = [])))]
pub async fn list_templates(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<TemplateView>>, ApiError> {
    Ok(Json(state.desk.list_templates(&actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplate {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Task titles every change from the template gets.
    #[serde(default)]
    pub tasks: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/change-templates", tag = "changes", request_body = CreateTemplate,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = TemplateView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_template(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CreateTemplate>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/change-templates",
        &body.digest,
        StatusCode::CREATED,
    );
    let CreateTemplate {
        name,
        description,
        tasks,
    } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk.create_template(
        work,
        &actor,
        &name,
        &description,
        tasks
    ));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/freeze-windows", tag = "changes", responses((status = 200, body = [FreezeView])), security(("bearer" = [])))]
pub async fn list_freezes(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<FreezeView>>, ApiError> {
    Ok(Json(state.desk.list_freezes(&actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFreeze {
    pub name: String,
    /// Team (name or id); everyone when absent.
    pub team: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/api/v1/freeze-windows", tag = "changes", request_body = CreateFreeze,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = FreezeView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_freeze(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CreateFreeze>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/freeze-windows",
        &body.digest,
        StatusCode::CREATED,
    );
    let CreateFreeze {
        name,
        team,
        starts_at,
        ends_at,
    } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_freeze(work, &actor, &name, team, starts_at, ends_at));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/tasks", tag = "tickets", params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = [TaskView]), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn list_tasks(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    Ok(Json(state.desk.list_tasks(&actor, &number).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTask {
    pub title: String,
    /// Email or id.
    pub assignee: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/tasks", tag = "tickets", request_body = AddTask,
    params(("number" = String, Path, description = "Ticket number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = TaskView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn add_task(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
    idempotency: IdempotencyKey,
    body: ApiJson<AddTask>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/tasks"),
        &body.digest,
        StatusCode::CREATED,
    );
    let AddTask { title, assignee } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .add_task(work, &actor, &number, &title, assignee));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskChanges {
    /// `open`, `in_progress`, `done` or `cancelled`.
    pub state: Option<String>,
    /// Email or id; null unassigns.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<String>>,
}

#[utoipa::path(patch, path = "/api/v1/tickets/{number}/tasks/{id}", tag = "tickets", request_body = TaskChanges,
    params(("number" = String, Path, description = "Ticket number"), ("id" = Uuid, Path, description = "Task id")),
    responses((status = 200, body = TaskView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_task(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((number, id)): Path<(String, Uuid)>,
    body: ApiJson<TaskChanges>,
) -> Result<Json<TaskView>, ApiError> {
    let TaskChanges {
        state: to,
        assignee,
    } = body.value;
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .update_task(work, &actor, &number, id, to, assignee))))
}
