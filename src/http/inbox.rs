//! Notifications over the API: the signed-in person's in-app inbox
//! (`/api/v1/me/inbox…`) and the organization's notification defaults
//! (`/api/v1/organization/notification-defaults`, admins).

use axum::{
    extract::{Path, State},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{ApiJson, ApiQuery, Auth},
    AppState,
};
use crate::desk::notify::InboxView;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/inbox", get(list_inbox))
        .route("/me/inbox/read-all", post(read_all))
        .route("/me/inbox/{id}/read", post(mark_read))
        .route(
            "/organization/notification-defaults",
            get(get_defaults).put(set_defaults),
        )
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// Only messages not yet marked read.
    pub unread: Option<bool>,
    /// 1–500, default 100.
    pub limit: Option<i64>,
}

/// The signed-in person's in-app messages, newest first.
#[utoipa::path(get, path = "/api/v1/me/inbox", tag = "me", params(InboxQuery),
    responses((status = 200, body = [InboxView])), security(("bearer" = [])))]
pub async fn list_inbox(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(q): ApiQuery<InboxQuery>,
) -> Result<Json<Vec<InboxView>>, ApiError> {
    Ok(Json(
        state
            .desk
            .list_inbox(&actor, q.unread.unwrap_or(false), q.limit.unwrap_or(100))
            .await?,
    ))
}

/// Marks one message read (again is harmless); another person's is not found.
#[utoipa::path(post, path = "/api/v1/me/inbox/{id}/read", tag = "me", params(("id" = Uuid, Path, description = "Inbox message id")),
    responses((status = 200, body = InboxView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn mark_read(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<InboxView>, ApiError> {
    let view = exec_use_case!(state, |desk, work| desk.mark_inbox_read(work, &actor, id));
    Ok(Json(view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkedRead {
    /// How many messages were unread.
    pub marked: u64,
}

/// Marks every unread message read.
#[utoipa::path(post, path = "/api/v1/me/inbox/read-all", tag = "me",
    responses((status = 200, body = MarkedRead)), security(("bearer" = [])))]
pub async fn read_all(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<MarkedRead>, ApiError> {
    let marked = exec_use_case!(state, |desk, work| desk.mark_inbox_all_read(work, &actor));
    Ok(Json(MarkedRead { marked }))
}

/// The organization's notification defaults as set (`{}`: the built-in
/// ones, see the README). Admins only.
#[utoipa::path(get, path = "/api/v1/organization/notification-defaults", tag = "access",
    responses((status = 200, body = Object), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn get_defaults(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(state.desk.get_notification_defaults(&actor).await?))
}

/// Replaces the organization's notification defaults: `channels`,
/// `events`, `quiet_hours` (people's own preferences win) and `routes`
/// (recipient roles per ticket event). Admins only.
#[utoipa::path(put, path = "/api/v1/organization/notification-defaults", tag = "access", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn set_defaults(
    State(state): State<AppState>,
    Auth(actor): Auth,
    body: ApiJson<serde_json::Value>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let settings = body.value;
    let saved = exec_use_case!(state, |desk, work| desk
        .set_notification_defaults(work, &actor, settings));
    Ok(Json(saved))
}
