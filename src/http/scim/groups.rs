//! `/scim/v2/Groups`: the wire side of `desk::scim`'s group use cases.
//! A group's id is its team's.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde_json::{json, Value};

use super::{
    base_url, if_match, list_response, no_content, resource_id, resource_response, timestamp,
    ListParams, Projection, ProjectionParams, ScimAuth, ScimBody, ScimFailure,
};
use crate::{
    desk::scim::{refusal, GroupView},
    domain::{scim::GROUP_SCHEMA, scim_patch::parse_patch},
    http::{exec_use_case, AppState},
};

/// The Group resource as sent: name, members (users) and `meta`.
fn render(base: &str, view: &GroupView, projection: &Projection) -> Value {
    let mut resource = json!({
        "schemas": [GROUP_SCHEMA],
        "id": view.id.to_string(),
        "displayName": view.display_name,
        "meta": {
            "resourceType": "Group",
            "created": timestamp(view.created_at),
            "lastModified": timestamp(view.updated_at),
            "location": format!("{base}/Groups/{}", view.id),
            "version": super::etag(view.version),
        },
    });
    if let Some(external_id) = &view.external_id {
        resource["externalId"] = Value::String(external_id.clone());
    }
    if !projection.excludes("members") {
        resource["members"] = view
            .members
            .iter()
            .map(|(id, name)| json!({ "value": id.to_string(), "display": name, "type": "User", "$ref": format!("{base}/Users/{id}") }))
            .collect();
    }
    projection.apply(resource)
}

#[utoipa::path(get, path = "/scim/v2/Groups", tag = "scim",
    params(("filter" = Option<String>, Query, description = "e.g. displayName eq \"Service Desk\""),
           ("startIndex" = Option<i64>, Query), ("count" = Option<i64>, Query)),
    responses((status = 200, description = "A ListResponse of Groups (excludedAttributes=members leaves members out)", content_type = "application/scim+json", body = Object),
              (status = 400, description = "invalidFilter", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    ScimAuth(by): ScimAuth,
    params: ListParams,
) -> Result<Response, ScimFailure> {
    let page = state.desk.scim_list_groups(&by, params.query).await?;
    let base = base_url(&state);
    let resources = page
        .items
        .iter()
        .map(|v| render(&base, v, &params.projection))
        .collect();
    Ok(list_response(page.total, page.start_index, resources))
}

#[utoipa::path(post, path = "/scim/v2/Groups", tag = "scim",
    request_body(content = Object, content_type = "application/scim+json"),
    responses((status = 201, description = "The Group, a team", content_type = "application/scim+json", body = Object),
              (status = 409, description = "uniqueness: the displayName is taken", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    ScimAuth(by): ScimAuth,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimFailure> {
    let view = exec_use_case!(state, |desk, work| desk.scim_create_group(work, &by, body));
    let resource = render(&base_url(&state), &view, &Projection::default());
    Ok(resource_response(
        StatusCode::CREATED,
        &resource,
        view.version,
    ))
}

#[utoipa::path(get, path = "/scim/v2/Groups/{id}", tag = "scim",
    responses((status = 200, description = "The Group", content_type = "application/scim+json", body = Object),
              (status = 404, description = "No such group in this organization", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<AppState>,
    ScimAuth(by): ScimAuth,
    Path(id): Path<String>,
    ProjectionParams(projection): ProjectionParams,
) -> Result<Response, ScimFailure> {
    let id = resource_id(&id, "group")?;
    let view = state.desk.scim_get_group(&by, id).await?;
    let resource = render(&base_url(&state), &view, &projection);
    Ok(resource_response(StatusCode::OK, &resource, view.version))
}

#[utoipa::path(put, path = "/scim/v2/Groups/{id}", tag = "scim",
    request_body(content = Object, content_type = "application/scim+json"),
    responses((status = 200, description = "The Group as replaced", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn replace(
    State(state): State<AppState>,
    ScimAuth(by): ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimFailure> {
    let id = resource_id(&id, "group")?;
    let version = if_match(&headers);
    let view = exec_use_case!(state, |desk, work| desk
        .scim_replace_group(work, &by, id, body, version));
    let resource = render(&base_url(&state), &view, &Projection::default());
    Ok(resource_response(StatusCode::OK, &resource, view.version))
}

#[utoipa::path(patch, path = "/scim/v2/Groups/{id}", tag = "scim",
    request_body(content = Object, content_type = "application/scim+json", description = "A PatchOp message (Entra ID and Okta forms)"),
    responses((status = 200, description = "The Group as patched", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn patch(
    State(state): State<AppState>,
    ScimAuth(by): ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimFailure> {
    let id = resource_id(&id, "group")?;
    let ops = parse_patch(&body).map_err(refusal)?;
    let version = if_match(&headers);
    let view = exec_use_case!(state, |desk, work| desk
        .scim_patch_group(work, &by, id, ops, version));
    let resource = render(&base_url(&state), &view, &Projection::default());
    Ok(resource_response(StatusCode::OK, &resource, view.version))
}

#[utoipa::path(delete, path = "/scim/v2/Groups/{id}", tag = "scim",
    responses((status = 204, description = "Deleted: the team stays, its role grant ends")),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    ScimAuth(by): ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimFailure> {
    let id = resource_id(&id, "group")?;
    let version = if_match(&headers);
    exec_use_case!(state, |desk, work| desk
        .scim_delete_group(work, &by, id, version));
    Ok(no_content())
}
