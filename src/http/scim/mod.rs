//! SCIM 2.0 (RFC 7643/7644) at `/scim/v2`: Users, Groups and the
//! discovery endpoints, for identity providers (Entra ID, Okta). The
//! wire format lives here — `application/scim+json`, SCIM's error
//! messages, `ListResponse`, `meta` and ETags; the use cases are
//! `desk::scim`'s, the filters and PATCH `domain::scim*`'s.
//!
//! Authentication: a bearer API token, either a SCIM token (`switchboard
//! token create --role scim`) or an admin's; the desk turns it into a
//! `Provisioner`, which is what every SCIM use case takes. Everything
//! here answers in SCIM's error format, axum's own rejections included.

pub(super) mod discovery;
pub(super) mod groups;
pub mod roles;
pub(super) mod users;

use std::collections::HashMap;

use axum::{
    body::{Body, Bytes},
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::AppState;
use crate::{
    desk::{
        scim::{ListQuery, Provisioner, MAX_PAGE},
        DeskError,
    },
    domain::{
        scim::{ScimErrorKind, ERROR_SCHEMA, LIST_SCHEMA},
        scim_filter::Filter,
        Channel,
    },
};

/// SCIM's media type (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";

/// Page size when a request names none.
const DEFAULT_COUNT: usize = 100;

pub fn router() -> Router<AppState> {
    let scim = Router::new()
        .route("/Users", get(users::list).post(users::create))
        .route(
            "/Users/{id}",
            get(users::get_one)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route(
            "/Groups/{id}",
            get(groups::get_one)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route(
            "/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .fallback(unknown_endpoint)
        .layer(middleware::from_fn(scim_answers));
    Router::new().nest("/scim/v2", scim)
}

/// A refusal in SCIM's format (RFC 7644 §3.12).
#[derive(Debug)]
pub struct ScimFailure {
    status: StatusCode,
    scim_type: Option<ScimErrorKind>,
    detail: String,
}

impl ScimFailure {
    pub fn new(
        status: StatusCode,
        scim_type: Option<ScimErrorKind>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    fn of_kind(kind: ScimErrorKind, detail: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
        Self::new(status, Some(kind), detail)
    }
}

impl From<DeskError> for ScimFailure {
    fn from(error: DeskError) -> Self {
        use DeskError as D;
        match error {
            D::NotFound(what) => {
                Self::new(StatusCode::NOT_FOUND, None, format!("{what} not found"))
            }
            D::Forbidden(why) => Self::new(StatusCode::FORBIDDEN, None, why),
            D::Unauthenticated(why) => Self::new(StatusCode::UNAUTHORIZED, None, why),
            D::Conflict(why) => Self::of_kind(ScimErrorKind::Uniqueness, why),
            D::Invalid(fields) => {
                // `desk::scim::refusal` carries the SCIM error type as the
                // field; other fields are invalid values of that name.
                let kind = fields
                    .first()
                    .and_then(|f| ScimErrorKind::parse(&f.field).ok())
                    .unwrap_or(ScimErrorKind::InvalidValue);
                let detail = fields
                    .iter()
                    .map(|f| match ScimErrorKind::parse(&f.field) {
                        Ok(_) => f.message.clone(),
                        Err(_) => format!("{}: {}", f.field, f.message),
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                Self::of_kind(kind, detail)
            }
            D::TooLarge(why) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, None, why),
            D::Transition(t) => Self::of_kind(ScimErrorKind::InvalidValue, t.to_string()),
            D::BulkInvalid(_) | D::IdempotencyMismatch => {
                Self::of_kind(ScimErrorKind::InvalidValue, error.to_string())
            }
            D::Store(e) if crate::store::is_unavailable(&e) => {
                tracing::warn!(error = ?e, "the database is unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    None,
                    "the database is unavailable; nothing was changed, try again shortly",
                )
            }
            other @ (D::Store(_) | D::Internal(_) | D::Retry(_)) => {
                let chain: Vec<String> =
                    std::iter::successors(Some(&other as &dyn std::error::Error), |e| e.source())
                        .map(ToString::to_string)
                        .collect();
                tracing::error!(error = %chain.join(": "), "SCIM request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "the server could not complete the request; it has been logged",
                )
            }
        }
    }
}

impl IntoResponse for ScimFailure {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(kind) = self.scim_type {
            body["scimType"] = Value::String(kind.as_str().into());
        }
        let mut response = scim_json(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        response
    }
}

/// A JSON body with SCIM's media type.
pub fn scim_json(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    response
}

async fn unknown_endpoint() -> ScimFailure {
    ScimFailure::new(StatusCode::NOT_FOUND, None, "no such SCIM endpoint")
}

/// Turns axum's own plain answers under `/scim/v2` (a method the route
/// does not take, a body over the size limit) into SCIM errors.
async fn scim_answers(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let is_scim = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(SCIM_JSON.as_bytes()));
    let status = response.status();
    if is_scim || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not take that method".to_string(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than server.max_body_bytes allows".to_string()
        }
        other => other.canonical_reason().unwrap_or("refused").to_string(),
    };
    ScimFailure::new(status, None, detail).into_response()
}

/// The provisioner behind the request's bearer token.
pub struct ScimAuth(pub Provisioner);

impl FromRequestParts<AppState> for ScimAuth {
    type Rejection = ScimFailure;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = |why: &str| ScimFailure::new(StatusCode::UNAUTHORIZED, None, why);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                unauthorized("send the SCIM token as `Authorization: Bearer <token>`")
            })?;
        let provisioner = if token.starts_with(crate::desk::tokens::TOKEN_PREFIX) {
            state
                .desk
                .authenticate_provisioner(token, Channel::Api)
                .await?
        } else {
            let found = state.desk.authenticate_jwt(token, Channel::Web).await?;
            if found.mfa_enrollment_required {
                return Err(ScimFailure::new(
                    StatusCode::FORBIDDEN,
                    None,
                    "your organization requires two-factor authentication: enrol first",
                ));
            }
            Provisioner::admin(found.actor)?
        };
        if provisioner.read_only() && !parts.method.is_safe() {
            return Err(ScimFailure::new(
                StatusCode::FORBIDDEN,
                None,
                "this token is read-only",
            ));
        }
        Ok(ScimAuth(provisioner))
    }
}

/// A SCIM request body: JSON (`application/scim+json` or
/// `application/json`); anything unreadable is `invalidSyntax`.
pub struct ScimBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimFailure;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        if content_type
            .as_deref()
            .is_some_and(|ct| !ct.contains("json"))
        {
            return Err(ScimFailure::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                format!("send the body as {SCIM_JSON}"),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ScimFailure::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    None,
                    "the request body is larger than server.max_body_bytes allows",
                )
            } else {
                ScimFailure::of_kind(
                    ScimErrorKind::InvalidSyntax,
                    "the request body could not be read",
                )
            }
        })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimFailure::of_kind(ScimErrorKind::InvalidSyntax, format!("malformed JSON: {e}"))
        })?;
        if holds_nul(&value) {
            // PostgreSQL text cannot hold NUL; refused on both backends alike.
            return Err(ScimFailure::of_kind(
                ScimErrorKind::InvalidValue,
                "text cannot contain a NUL character (\\u0000)",
            ));
        }
        Ok(ScimBody(value))
    }
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// A list request's parameters (RFC 7644 §3.4.2), names read without case.
pub struct ListParams {
    pub query: ListQuery,
    pub projection: Projection,
}

/// `attributes` / `excludedAttributes`: which top-level attributes to
/// return (`id`, `schemas` and `meta` always are).
#[derive(Debug, Default, Clone)]
pub struct Projection {
    only: Option<Vec<String>>,
    excluded: Vec<String>,
}

impl Projection {
    fn from_params(params: &HashMap<String, String>) -> Self {
        let list = |key: &str| {
            params.get(key).map(|v| {
                v.split(',')
                    .map(|a| {
                        let a = a.trim();
                        // `urn:…:User:userName` and `name.givenName` name
                        // their top-level attribute.
                        let a = match a.rfind(':') {
                            Some(at)
                                if a.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) =>
                            {
                                &a[at + 1..]
                            }
                            _ => a,
                        };
                        a.split('.').next().unwrap_or(a).to_ascii_lowercase()
                    })
                    .filter(|a| !a.is_empty())
                    .collect::<Vec<_>>()
            })
        };
        Self {
            only: list("attributes"),
            excluded: list("excludedattributes").unwrap_or_default(),
        }
    }

    pub fn excludes(&self, attr: &str) -> bool {
        let attr = attr.to_ascii_lowercase();
        if matches!(attr.as_str(), "id" | "schemas" | "meta") {
            return false;
        }
        self.excluded.contains(&attr)
            || self.only.as_ref().is_some_and(|only| !only.contains(&attr))
    }

    pub fn apply(&self, mut resource: Value) -> Value {
        if let Value::Object(map) = &mut resource {
            map.retain(|k, _| !self.excludes(k));
        }
        resource
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ScimFailure;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let params = query_params(parts)?;
        let number = |key: &str, default: usize| match params.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(|n| n.max(0) as usize)
                .map_err(|_| {
                    ScimFailure::of_kind(
                        ScimErrorKind::InvalidValue,
                        format!("`{key}` must be an integer"),
                    )
                }),
        };
        let filter =
            match params
                .get("filter")
                .map(|f| f.trim())
                .filter(|f| !f.is_empty())
            {
                Some(text) => Some(Filter::parse(text).map_err(|e| {
                    ScimFailure::of_kind(ScimErrorKind::InvalidFilter, e.to_string())
                })?),
                None => None,
            };
        Ok(ListParams {
            query: ListQuery {
                filter,
                start_index: number("startindex", 1)?.max(1),
                count: number("count", DEFAULT_COUNT)?.min(MAX_PAGE),
            },
            projection: Projection::from_params(&params),
        })
    }
}

/// `attributes` / `excludedAttributes` of a single-resource request.
pub struct ProjectionParams(pub Projection);

impl<S: Send + Sync> FromRequestParts<S> for ProjectionParams {
    type Rejection = ScimFailure;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ProjectionParams(Projection::from_params(&query_params(
            parts,
        )?)))
    }
}

/// The query string's parameters, names lower-cased.
fn query_params(parts: &Parts) -> Result<HashMap<String, String>, ScimFailure> {
    let axum::extract::Query(pairs) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map_err(|_| {
            ScimFailure::of_kind(
                ScimErrorKind::InvalidSyntax,
                "the query string could not be read",
            )
        })?;
    Ok(pairs
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect())
}

/// The version `If-Match` asks for: `W/"3"` or `"3"`; `*` asks for none.
/// Anything else can match no version.
pub fn if_match(headers: &HeaderMap) -> Option<i64> {
    let value = headers.get(header::IF_MATCH)?.to_str().ok()?.trim();
    if value == "*" {
        return None;
    }
    let tag = value.strip_prefix("W/").unwrap_or(value).trim_matches('"');
    Some(tag.parse().unwrap_or(-1))
}

pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The base of every `location`: `server.public_url` + `/scim/v2`.
pub fn base_url(state: &AppState) -> String {
    format!(
        "{}/scim/v2",
        state.config.server.public_url.trim_end_matches('/')
    )
}

pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A `ListResponse` of `resources`.
pub fn list_response(total: usize, start_index: usize, resources: Vec<Value>) -> Response {
    scim_json(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start_index,
            "itemsPerPage": resources.len(),
            "Resources": resources,
        }),
    )
}

/// One resource with its ETag (and `Location` when created).
pub fn resource_response(status: StatusCode, resource: &Value, version: i64) -> Response {
    let mut response = scim_json(status, resource);
    if let Ok(tag) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    if status == StatusCode::CREATED {
        if let Some(location) = resource["meta"]["location"]
            .as_str()
            .and_then(|l| HeaderValue::from_str(l).ok())
        {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    response
}

/// `204 No Content`.
pub fn no_content() -> Response {
    (StatusCode::NO_CONTENT, Body::empty()).into_response()
}

/// A resource id from the path; anything not an id is simply not there.
pub fn resource_id(raw: &str, what: &'static str) -> Result<uuid::Uuid, ScimFailure> {
    uuid::Uuid::parse_str(raw.trim())
        .map_err(|_| ScimFailure::new(StatusCode::NOT_FOUND, None, format!("{what} not found")))
}
