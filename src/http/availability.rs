//! `/api/v1/people/{id}/…` availability (skills, working hours, absences)
//! and `/api/v1/skill-rules`: what automatic assignment reads.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{delete, get, post, put},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{respond, ApiJson, Auth},
    run_use_case, AppState,
};
use crate::desk::{
    assignment::SkillRuleView,
    availability::{AbsenceView, AvailabilityView, NewAbsence},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/people/{id}/availability", get(availability))
        .route("/people/{id}/skills", put(set_skills))
        .route("/people/{id}/working-hours", put(set_working_hours))
        .route("/people/{id}/absences", post(add_absence))
        .route("/people/{id}/absences/{absence}", delete(end_absence))
        .route(
            "/skill-rules",
            get(list_skill_rules).post(create_skill_rule),
        )
        .route("/skill-rules/{id}", delete(delete_skill_rule))
}

#[utoipa::path(get, path = "/api/v1/people/{id}/availability", tag = "people",
    params(("id" = String, Path, description = "Person id, email or `me`")),
    responses((status = 200, body = AvailabilityView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn availability(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<AvailabilityView>, ApiError> {
    Ok(Json(state.desk.availability(&actor, &id).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Skills {
    /// e.g. `["network", "windows"]` (lower-cased; letters, digits, `-_.:/`).
    pub skills: Vec<String>,
}

#[utoipa::path(put, path = "/api/v1/people/{id}/skills", tag = "people", request_body = Skills,
    params(("id" = String, Path, description = "Person id, email or `me`")),
    responses((status = 200, body = Skills), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn set_skills(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    body: ApiJson<Skills>,
) -> Result<Response, ApiError> {
    let skills = body.value.skills;
    let outcome = run_use_case!(state, None::<crate::desk::Intake>, |desk, work| async {
        desk.set_skills(work, &actor, &id, &skills)
            .await
            .map(|skills| Skills { skills })
    });
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    /// A business calendar (id or name, see `/api/v1/sla/calendars`);
    /// `null`: always on shift.
    pub calendar: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/people/{id}/working-hours", tag = "people", request_body = WorkingHours,
    params(("id" = String, Path, description = "Person id, email or `me`")),
    responses((status = 200, body = WorkingHours), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn set_working_hours(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    body: ApiJson<WorkingHours>,
) -> Result<Response, ApiError> {
    let calendar = body.value.calendar;
    let outcome = run_use_case!(state, None::<crate::desk::Intake>, |desk, work| async {
        desk.set_work_calendar(work, &actor, &id, calendar.as_deref())
            .await
            .map(|id| WorkingHours {
                calendar: id.map(|id| id.to_string()),
            })
    });
    Ok(respond(StatusCode::OK, outcome))
}

#[utoipa::path(post, path = "/api/v1/people/{id}/absences", tag = "people", request_body = NewAbsence,
    params(("id" = String, Path, description = "Person id, email or `me`")),
    responses((status = 201, body = AbsenceView), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn add_absence(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    body: ApiJson<NewAbsence>,
) -> Result<Response, ApiError> {
    let input = body.value;
    let outcome = run_use_case!(state, None::<crate::desk::Intake>, |desk, work| desk
        .add_absence(work, &actor, &id, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(delete, path = "/api/v1/people/{id}/absences/{absence}", tag = "people",
    params(("id" = String, Path, description = "Person id, email or `me`"), ("absence" = Uuid, Path, description = "Absence id")),
    responses((status = 204, description = "Ended now (or dropped, if it had not started)"), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn end_absence(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((id, absence)): Path<(String, Uuid)>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk
        .end_absence(work, &actor, &id, absence));
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/skill-rules", tag = "teams",
    responses((status = 200, body = [SkillRuleView]), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn list_skill_rules(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<SkillRuleView>>, ApiError> {
    Ok(Json(state.desk.list_skill_rules(&actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSkillRule {
    /// The skill a ticket matching this rule needs.
    pub skill: String,
    /// Exactly one of: a category name,
    pub category: Option<String>,
    /// a CI class name (a ticket affecting a CI of this class),
    pub ci_class: Option<String>,
    /// or a ticket tag.
    pub tag: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/skill-rules", tag = "teams", request_body = CreateSkillRule,
    responses((status = 201, body = SkillRuleView), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_skill_rule(
    State(state): State<AppState>,
    Auth(actor): Auth,
    body: ApiJson<CreateSkillRule>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let outcome = run_use_case!(state, None::<crate::desk::Intake>, |desk, work| desk
        .create_skill_rule(
            work,
            &actor,
            &b.skill,
            b.category.as_deref(),
            b.ci_class.as_deref(),
            b.tag.as_deref()
        ));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(delete, path = "/api/v1/skill-rules/{id}", tag = "teams",
    params(("id" = Uuid, Path, description = "Skill rule id")),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn delete_skill_rule(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk.delete_skill_rule(work, &actor, id));
    Ok(StatusCode::NO_CONTENT)
}
