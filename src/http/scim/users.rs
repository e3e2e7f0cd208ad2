//! `/scim/v2/Users`: the wire side of `desk::scim`'s user use cases.

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
    desk::scim::{refusal, UserView},
    domain::{
        scim::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA},
        scim_patch::parse_patch,
    },
    http::{exec_use_case, AppState},
};

/// The User resource as sent: the kept attributes, `schemas`, the groups
/// and `meta`.
fn render(base: &str, view: &UserView, projection: &Projection) -> Value {
    let mut resource = view.resource.clone();
    let mut schemas = vec![Value::String(USER_SCHEMA.into())];
    if resource
        .keys()
        .any(|k| k.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA))
    {
        schemas.push(Value::String(ENTERPRISE_USER_SCHEMA.into()));
    }
    resource.insert("schemas".into(), Value::Array(schemas));
    resource.insert(
        "groups".into(),
        view.groups
            .iter()
            .map(|(id, name)| json!({ "value": id.to_string(), "display": name, "$ref": format!("{base}/Groups/{id}") }))
            .collect(),
    );
    resource.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": timestamp(view.created_at),
            "lastModified": timestamp(view.updated_at),
            "location": format!("{base}/Users/{}", view.id),
            "version": super::etag(view.version),
        }),
    );
    projection.apply(Value::Object(resource))
}

#[utoipa::path(get, path = "/scim/v2/Users", tag = "scim",
    params(("filter" = Option<String>, Query, description = "e.g. userName eq \"bjensen@example.com\""),
           ("startIndex" = Option<i64>, Query), ("count" = Option<i64>, Query)),
    responses((status = 200, description = "A ListResponse of Users", content_type = "application/scim+json", body = Object),
              (status = 400, description = "invalidFilter", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    ScimAuth(by): ScimAuth,
    params: ListParams,
) -> Result<Response, ScimFailure> {
    let page = state.desk.scim_list_users(&by, params.query).await?;
    let base = base_url(&state);
    let resources = page
        .items
        .iter()
        .map(|v| render(&base, v, &params.projection))
        .collect();
    Ok(list_response(page.total, page.start_index, resources))
}

#[utoipa::path(post, path = "/scim/v2/Users", tag = "scim",
    request_body(content = Object, content_type = "application/scim+json"),
    responses((status = 201, description = "The provisioned User", content_type = "application/scim+json", body = Object),
              (status = 409, description = "uniqueness: the userName is taken", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    ScimAuth(by): ScimAuth,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimFailure> {
    let view = exec_use_case!(state, |desk, work| desk.scim_create_user(work, &by, body));
    let resource = render(&base_url(&state), &view, &Projection::default());
    Ok(resource_response(
        StatusCode::CREATED,
        &resource,
        view.version,
    ))
}

#[utoipa::path(get, path = "/scim/v2/Users/{id}", tag = "scim",
    responses((status = 200, description = "The User", content_type = "application/scim+json", body = Object),
              (status = 404, description = "No such user in this organization", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn get_one(
    State(state): State<AppState>,
    ScimAuth(by): ScimAuth,
    Path(id): Path<String>,
    ProjectionParams(projection): ProjectionParams,
) -> Result<Response, ScimFailure> {
    let id = resource_id(&id, "user")?;
    let view = state.desk.scim_get_user(&by, id).await?;
    let resource = render(&base_url(&state), &view, &projection);
    Ok(resource_response(StatusCode::OK, &resource, view.version))
}

#[utoipa::path(put, path = "/scim/v2/Users/{id}", tag = "scim",
    request_body(content = Object, content_type = "application/scim+json"),
    responses((status = 200, description = "The User as replaced", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn replace(
    State(state): State<AppState>,
    ScimAuth(by): ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimFailure> {
    let id = resource_id(&id, "user")?;
    let version = if_match(&headers);
    let view = exec_use_case!(state, |desk, work| desk
        .scim_replace_user(work, &by, id, body, version));
    let resource = render(&base_url(&state), &view, &Projection::default());
    Ok(resource_response(StatusCode::OK, &resource, view.version))
}

#[utoipa::path(patch, path = "/scim/v2/Users/{id}", tag = "scim",
    request_body(content = Object, content_type = "application/scim+json", description = "A PatchOp message (Entra ID and Okta forms)"),
    responses((status = 200, description = "The User as patched", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn patch(
    State(state): State<AppState>,
    ScimAuth(by): ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimFailure> {
    let id = resource_id(&id, "user")?;
    let ops = parse_patch(&body).map_err(refusal)?;
    let version = if_match(&headers);
    let view = exec_use_case!(state, |desk, work| desk
        .scim_patch_user(work, &by, id, ops, version));
    let resource = render(&base_url(&state), &view, &Projection::default());
    Ok(resource_response(StatusCode::OK, &resource, view.version))
}

#[utoipa::path(delete, path = "/scim/v2/Users/{id}", tag = "scim",
    responses((status = 204, description = "Deleted: the person is disabled and signed out")),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    ScimAuth(by): ScimAuth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimFailure> {
    let id = resource_id(&id, "user")?;
    let version = if_match(&headers);
    exec_use_case!(state, |desk, work| desk
        .scim_delete_user(work, &by, id, version));
    Ok(no_content())
}
