//! Approval policies, approvals and decisions, delegations and managers:
//! `/api/v1/approval-policies`, `/api/v1/approvals`,
//! `/api/v1/tickets/{number}/approvals`, `/api/v1/me/delegations`,
//! `/api/v1/people/{id}/manager`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{delete, get, post, put},
    Json, Router,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{respond, ApiJson, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::desk::{
    approvals::{ApprovalView, DelegationView, PolicyInput, PolicyView},
    views::PersonRef,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/approval-policies", get(list_policies).post(create_policy))
        .route(
            "/approval-policies/{id}",
            get(get_policy).put(update_policy),
        )
        .route("/approvals", get(my_approvals))
        .route("/approvals/{id}", get(get_approval))
        .route("/approvals/{id}/decisions", post(decide))
        .route(
            "/tickets/{number}/approvals",
            get(ticket_approvals).post(request_approval),
        )
        .route(
            "/me/delegations",
            get(list_delegations).post(create_delegation),
        )
        .route("/me/delegations/{id}", delete(end_delegation))
        .route("/people/{id}/manager", put(set_manager))
}

#[utoipa::path(get, path = "/api/v1/approval-policies", tag = "approvals", responses((status = 200, body = [PolicyView])), security(("bearer" = [])))]
pub async fn list_policies(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<PolicyView>>, ApiError> {
    Ok(Json(state.desk.list_policies(&actor).await?))
}

#[utoipa::path(post, path = "/api/v1/approval-policies", tag = "approvals", request_body = PolicyInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = PolicyView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<PolicyInput>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/approval-policies",
        &body.digest,
        StatusCode::CREATED,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_policy(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/approval-policies/{id}", tag = "approvals", params(("id" = Uuid, Path, description = "Policy id")),
    responses((status = 200, body = PolicyView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<PolicyView>, ApiError> {
    Ok(Json(state.desk.get_policy(&actor, id).await?))
}

#[utoipa::path(put, path = "/api/v1/approval-policies/{id}", tag = "approvals", request_body = PolicyInput, params(("id" = Uuid, Path, description = "Policy id")),
    responses((status = 200, body = PolicyView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    body: ApiJson<PolicyInput>,
) -> Result<Json<PolicyView>, ApiError> {
    let input = body.value;
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .update_policy(work, &actor, id, input))))
}

#[utoipa::path(get, path = "/api/v1/approvals", tag = "approvals", responses((status = 200, body = [ApprovalView], description = "Approvals waiting for my decision, directly or as a delegate")), security(("bearer" = [])))]
pub async fn my_approvals(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<ApprovalView>>, ApiError> {
    Ok(Json(state.desk.my_approvals(&actor).await?))
}

#[utoipa::path(get, path = "/api/v1/approvals/{id}", tag = "approvals", params(("id" = Uuid, Path, description = "Approval id")),
    responses((status = 200, body = ApprovalView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_approval(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<ApprovalView>, ApiError> {
    Ok(Json(state.desk.get_approval(&actor, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// `approve` or `reject`.
    pub decision: String,
    /// Required when rejecting.
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/approvals/{id}/decisions", tag = "approvals", request_body = DecisionInput,
    params(("id" = Uuid, Path, description = "Approval id"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = ApprovalView), (status = 403, body = Problem, description = "Not an approver, or self-approval"),
        (status = 409, body = Problem, description = "Already decided: says by whom and when")), security(("bearer" = [])))]
pub async fn decide(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    idempotency: IdempotencyKey,
    body: ApiJson<DecisionInput>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/approvals/{id}/decisions"),
        &body.digest,
        StatusCode::OK,
    );
    let DecisionInput { decision, reason } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .decide(work, &actor, id, &decision, reason));
    Ok(respond(StatusCode::OK, outcome))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/approvals", tag = "approvals", params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = [ApprovalView]), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn ticket_approvals(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<ApprovalView>>, ApiError> {
    Ok(Json(state.desk.ticket_approvals(&actor, &number).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartApproval {
    /// Policy id or name.
    pub policy: String,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/approvals", tag = "approvals", request_body = StartApproval,
    params(("number" = String, Path, description = "Ticket number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = ApprovalView), (status = 404, body = Problem), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn request_approval(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
    idempotency: IdempotencyKey,
    body: ApiJson<StartApproval>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/approvals"),
        &body.digest,
        StatusCode::CREATED,
    );
    let policy = body.value.policy;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .request_approval(work, &actor, &number, &policy));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/me/delegations", tag = "approvals", responses((status = 200, body = [DelegationView])), security(("bearer" = [])))]
pub async fn list_delegations(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<DelegationView>>, ApiError> {
    Ok(Json(state.desk.list_delegations(&actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDelegation {
    /// Who decides in my place (email or id).
    pub to: String,
    /// Admins only: whose approvals are delegated (email or id).
    pub from: Option<String>,
    /// Default: now.
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: DateTime<Utc>,
}

#[utoipa::path(post, path = "/api/v1/me/delegations", tag = "approvals", request_body = CreateDelegation,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = DelegationView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_delegation(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CreateDelegation>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/me/delegations",
        &body.digest,
        StatusCode::CREATED,
    );
    let CreateDelegation {
        to,
        from,
        starts_at,
        ends_at,
    } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_delegation(work, &actor, from, &to, starts_at, ends_at));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(delete, path = "/api/v1/me/delegations/{id}", tag = "approvals", params(("id" = Uuid, Path, description = "Delegation id")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn end_delegation(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk.end_delegation(work, &actor, id));
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetManager {
    /// The manager (email or id); null clears.
    pub manager: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ManagerView {
    pub manager: Option<PersonRef>,
}

#[utoipa::path(put, path = "/api/v1/people/{id}/manager", tag = "people", request_body = SetManager, params(("id" = Uuid, Path, description = "Person id")),
    responses((status = 200, body = ManagerView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn set_manager(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    body: ApiJson<SetManager>,
) -> Result<Json<ManagerView>, ApiError> {
    let manager = body.value.manager;
    let manager = exec_use_case!(state, |desk, work| desk
        .set_manager(work, &actor, id, manager));
    Ok(Json(ManagerView { manager }))
}
