//! SCIM's discovery endpoints (RFC 7644 §4): what this service provider
//! supports, its resource types and the schemas of their attributes.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde_json::{json, Value};

use super::{base_url, list_response, scim_json, ScimAuth, ScimFailure};
use crate::{
    desk::scim::MAX_PAGE,
    domain::scim::{ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA},
    http::AppState,
};

#[utoipa::path(get, path = "/scim/v2/ServiceProviderConfig", tag = "scim",
    responses((status = 200, description = "What this SCIM service provider supports", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn service_provider_config(
    State(state): State<AppState>,
    ScimAuth(_caller): ScimAuth,
) -> Response {
    let base = base_url(&state);
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": { "supported": true },
            "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
            "filter": { "supported": true, "maxResults": MAX_PAGE },
            "changePassword": { "supported": false },
            "sort": { "supported": false },
            "etag": { "supported": true },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A SCIM token from `switchboard token create --org ORG --role scim`, or an admin's API token",
                "primary": true
            }],
            "meta": { "resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig") }
        }),
    )
}

fn resource_type_list(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A person of the organization",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{ "schema": ENTERPRISE_USER_SCHEMA, "required": false }],
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User") }
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A team; its members are users",
            "schema": GROUP_SCHEMA,
            "meta": { "resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group") }
        }),
    ]
}

#[utoipa::path(get, path = "/scim/v2/ResourceTypes", tag = "scim",
    responses((status = 200, description = "User and Group", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn resource_types(
    State(state): State<AppState>,
    ScimAuth(_caller): ScimAuth,
) -> Response {
    let all = resource_type_list(&base_url(&state));
    list_response(all.len(), 1, all)
}

#[utoipa::path(get, path = "/scim/v2/ResourceTypes/{id}", tag = "scim",
    responses((status = 200, description = "One resource type", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn resource_type(
    State(state): State<AppState>,
    ScimAuth(_caller): ScimAuth,
    Path(id): Path<String>,
) -> Result<Response, ScimFailure> {
    resource_type_list(&base_url(&state))
        .into_iter()
        .find(|t| {
            t["id"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(&id))
        })
        .map(|t| scim_json(StatusCode::OK, &t))
        .ok_or_else(|| ScimFailure::new(StatusCode::NOT_FOUND, None, "no such resource type"))
}

/// One attribute's definition (RFC 7643 §7).
fn attr(name: &str, kind: &str, multi: bool, required: bool) -> Value {
    json!({
        "name": name,
        "type": kind,
        "multiValued": multi,
        "required": required,
        "caseExact": false,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    })
}

fn complex(name: &str, multi: bool, subs: Vec<Value>) -> Value {
    let mut a = attr(name, "complex", multi, false);
    a["subAttributes"] = Value::Array(subs);
    a
}

fn multi_valued(name: &str) -> Value {
    complex(
        name,
        true,
        vec![
            attr("value", "string", false, false),
            attr("display", "string", false, false),
            attr("type", "string", false, false),
            attr("primary", "boolean", false, false),
        ],
    )
}

fn schema_list(base: &str) -> Vec<Value> {
    let mut user_name = attr("userName", "string", false, true);
    user_name["uniqueness"] = json!("server");
    let mut groups = complex(
        "groups",
        true,
        vec![
            attr("value", "string", false, false),
            attr("$ref", "reference", false, false),
            attr("display", "string", false, false),
        ],
    );
    groups["mutability"] = json!("readOnly");
    let mut password = attr("password", "string", false, false);
    password["mutability"] = json!("writeOnly");
    password["returned"] = json!("never");
    let mut display_name = attr("displayName", "string", false, true);
    display_name["uniqueness"] = json!("server");
    let meta =
        |id: &str| json!({ "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") });
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": USER_SCHEMA,
            "name": "User",
            "description": "A person; its primary (else work, else first) email, or an email-shaped userName, is the address mail and chat know them by",
            "attributes": [
                user_name,
                complex("name", false, vec![
                    attr("formatted", "string", false, false),
                    attr("familyName", "string", false, false),
                    attr("givenName", "string", false, false),
                    attr("middleName", "string", false, false),
                    attr("honorificPrefix", "string", false, false),
                    attr("honorificSuffix", "string", false, false),
                ]),
                attr("displayName", "string", false, false),
                attr("nickName", "string", false, false),
                attr("title", "string", false, false),
                attr("userType", "string", false, false),
                attr("preferredLanguage", "string", false, false),
                attr("locale", "string", false, false),
                attr("timezone", "string", false, false),
                attr("active", "boolean", false, false),
                password,
                multi_valued("emails"),
                multi_valued("phoneNumbers"),
                groups,
            ],
            "meta": meta(USER_SCHEMA),
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": GROUP_SCHEMA,
            "name": "Group",
            "description": "A team",
            "attributes": [
                display_name,
                complex("members", true, vec![
                    attr("value", "string", false, false),
                    attr("$ref", "reference", false, false),
                    attr("display", "string", false, false),
                    attr("type", "string", false, false),
                ]),
            ],
            "meta": meta(GROUP_SCHEMA),
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": ENTERPRISE_USER_SCHEMA,
            "name": "EnterpriseUser",
            "description": "Kept and served back as sent",
            "attributes": [
                attr("employeeNumber", "string", false, false),
                attr("costCenter", "string", false, false),
                attr("organization", "string", false, false),
                attr("division", "string", false, false),
                attr("department", "string", false, false),
                complex("manager", false, vec![
                    attr("value", "string", false, false),
                    attr("$ref", "reference", false, false),
                    attr("displayName", "string", false, false),
                ]),
            ],
            "meta": meta(ENTERPRISE_USER_SCHEMA),
        }),
    ]
}

#[utoipa::path(get, path = "/scim/v2/Schemas", tag = "scim",
    responses((status = 200, description = "The User, Group and EnterpriseUser schemas", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn schemas(State(state): State<AppState>, ScimAuth(_caller): ScimAuth) -> Response {
    let all = schema_list(&base_url(&state));
    list_response(all.len(), 1, all)
}

#[utoipa::path(get, path = "/scim/v2/Schemas/{id}", tag = "scim",
    responses((status = 200, description = "One schema, by its URN", content_type = "application/scim+json", body = Object)),
    security(("bearer" = [])))]
pub async fn schema(
    State(state): State<AppState>,
    ScimAuth(_caller): ScimAuth,
    Path(id): Path<String>,
) -> Result<Response, ScimFailure> {
    schema_list(&base_url(&state))
        .into_iter()
        .find(|s| {
            s["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(&id))
        })
        .map(|s| scim_json(StatusCode::OK, &s))
        .ok_or_else(|| ScimFailure::new(StatusCode::NOT_FOUND, None, "no such schema"))
}
