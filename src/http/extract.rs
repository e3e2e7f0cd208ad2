//! Request extractors that answer in the API's own error format: bearer
//! authentication, JSON bodies, query strings and the `Idempotency-Key`.

use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, FromRequest, FromRequestParts, Query, Request},
    http::{header, request::Parts, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{error::ApiError, AppState};
use crate::{
    desk::{Actor, DeskError, Intake, Outcome},
    domain::Channel,
};

/// The authenticated caller: an API token (`sb_…`) or a JWT access token
/// from `/api/v1/auth/login`. Read-only tokens are refused on anything but
/// GET; people whose organization requires MFA must enrol first.
pub struct Auth(pub Actor);

/// Like [`Auth`], but also admits people who still have to enrol in MFA
/// (for the enrolment routes and reading one's own profile).
pub struct AuthEnrolling(pub Actor);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (actor, enrolling) = authenticate(parts, state).await?;
        if enrolling {
            return Err(ApiError::MfaEnrollmentRequired);
        }
        Ok(Auth(actor))
    }
}

impl FromRequestParts<AppState> for AuthEnrolling {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state)
            .await
            .map(|(actor, _)| AuthEnrolling(actor))
    }
}

/// The actor behind the bearer token, and whether MFA enrolment is due.
async fn authenticate(parts: &Parts, state: &AppState) -> Result<(Actor, bool), ApiError> {
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthorized(
            "missing bearer token (Authorization: Bearer …)",
        ))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "the Authorization header must be `Bearer <token>`",
        ))?;
    let unauthenticated = |e| match e {
        DeskError::Unauthenticated(why) => ApiError::Unauthorized(why),
        other => ApiError::Desk(other),
    };
    let (actor, enrolling) = if token.starts_with(crate::desk::tokens::TOKEN_PREFIX) {
        let actor = state
            .desk
            .authenticate_token(token, Channel::Api)
            .await
            .map_err(unauthenticated)?;
        (actor, false)
    } else {
        let found = state
            .desk
            .authenticate_jwt(token, Channel::Web)
            .await
            .map_err(unauthenticated)?;
        (found.actor, found.mfa_enrollment_required)
    };
    if actor.read_only && !parts.method.is_safe() {
        return Err(ApiError::ReadOnlyToken);
    }
    Ok((actor, enrolling))
}

/// A JSON body and the digest of its bytes (for idempotency fingerprints).
pub struct ApiJson<T> {
    pub value: T,
    pub digest: String,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json") || ct.contains("+json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        if has_escaped_nul(&bytes) {
            // PostgreSQL text cannot hold NUL; refused on both backends alike.
            return Err(ApiError::Desk(crate::desk::DeskError::invalid(
                "body",
                "text cannot contain a NUL character (\\u0000)",
            )));
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                ApiError::Desk(crate::desk::DeskError::invalid("body", e.to_string()))
            }
            _ => ApiError::BadRequest(format!("malformed JSON: {e}")),
        })?;
        Ok(ApiJson {
            value,
            digest: digest(&bytes),
        })
    }
}

/// Whether JSON text holds the escape `\u0000` (a raw NUL is not valid
/// JSON anyway): the `u0000` after an odd run of backslashes.
fn has_escaped_nul(json: &[u8]) -> bool {
    json.windows(6).enumerate().any(|(at, w)| {
        w[0] == b'\\'
            && w[1..].eq_ignore_ascii_case(b"u0000")
            && json[..at].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0
    })
}

pub fn body_error(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(
            "the request body is larger than server.max_body_bytes allows".into(),
        )
    } else {
        ApiError::BadRequest(rejection.body_text())
    }
}

pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Query parameters, rejecting unknown or malformed ones clearly.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::Desk(crate::desk::DeskError::invalid("query", e.body_text())))
    }
}

/// The optional `Idempotency-Key` header of a POST.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 255)
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
                )
            })?;
        Ok(IdempotencyKey(Some(key.to_string())))
    }
}

impl IdempotencyKey {
    /// Scopes the key to the caller and binds it to this request's content.
    pub fn intake(
        &self,
        actor: &Actor,
        route: &str,
        body_digest: &str,
        status: StatusCode,
    ) -> Option<Intake> {
        self.0.as_ref().map(|key| Intake {
            source: format!(
                "api:{}:{}",
                actor.org_id,
                actor.person_id.unwrap_or_default()
            ),
            key: key.clone(),
            fingerprint: digest(format!("{route}\n{body_digest}").as_bytes()),
            status: status.as_u16(),
            first_delivery: false,
        })
    }
}

/// Answers a use case's outcome: the fresh result with `status`, or the
/// recorded first result of a repeated request.
pub fn respond<T: serde::Serialize>(status: StatusCode, outcome: Outcome<T>) -> Response {
    match outcome {
        Outcome::Done(value) => (status, Json(value)).into_response(),
        Outcome::Replayed { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = (status, Json(body)).into_response();
            response.headers_mut().insert(
                "idempotent-replayed",
                header::HeaderValue::from_static("true"),
            );
            response
        }
    }
}

/// For `PATCH` bodies: distinguishes an absent field (keep) from `null` (clear).
pub(crate) fn double_option<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::has_escaped_nul;

    #[test]
    fn an_escaped_nul_is_found_and_an_escaped_backslash_is_not_one() {
        assert!(has_escaped_nul(br#"{"title": "a\u0000b"}"#));
        assert!(has_escaped_nul(br#"{"title": "\\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"title": "C:\\u0000 is a path"}"#));
        assert!(!has_escaped_nul(br#"{"title": "\u00e9t\u00e9"}"#));
    }
}
