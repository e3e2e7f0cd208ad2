//! `/api/v1/scim/group-roles`: which role membership of a SCIM group
//! grants (admins). Part of the REST API, so it answers problem+json.

use axum::{extract::State, routing::get, Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    desk::scim::GroupRole,
    http::{
        error::{ApiError, Problem},
        exec_use_case,
        extract::{ApiJson, Auth},
        AppState,
    },
};

pub fn router() -> Router<AppState> {
    Router::new().route("/scim/group-roles", get(get_roles).put(set_roles))
}

/// The whole mapping: each group (by displayName, without regard to
/// case) grants one role to its members.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupRoles {
    pub mappings: Vec<GroupRole>,
}

#[utoipa::path(get, path = "/api/v1/scim/group-roles", tag = "scim",
    responses((status = 200, body = GroupRoles), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn get_roles(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<GroupRoles>, ApiError> {
    let mappings = state.desk.scim_group_roles(&actor).await?;
    Ok(Json(GroupRoles { mappings }))
}

/// Replaces the mapping; every member of a SCIM group gets the roles it
/// now grants (and loses those a group no longer grants them).
#[utoipa::path(put, path = "/api/v1/scim/group-roles", tag = "scim", request_body = GroupRoles,
    responses((status = 200, body = GroupRoles), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn set_roles(
    State(state): State<AppState>,
    Auth(actor): Auth,
    body: ApiJson<GroupRoles>,
) -> Result<Json<GroupRoles>, ApiError> {
    let wanted = body.value.mappings;
    let mappings = exec_use_case!(state, |desk, work| desk
        .set_scim_group_roles(work, &actor, wanted));
    Ok(Json(GroupRoles { mappings }))
}
