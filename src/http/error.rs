//! The one API error type, answered as RFC 9457 problem+json with a stable
//! snake_case `code`. Causes of 5xx are logged, never sent.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::desk::DeskError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Desk(#[from] DeskError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: i64,
    },
    /// Signed in, but the organization requires MFA and it is not set up.
    #[error(
        "your organization requires two-factor authentication: enrol at /api/v1/me/mfa/totp first"
    )]
    MfaEnrollmentRequired,
    #[error("this token is read-only")]
    ReadOnlyToken,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// RFC 9457 problem details.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `invalid_transition`.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// For `invalid_transition`: the states allowed from the current one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
}

/// Seconds a client should wait after a database outage answer: a
/// PostgreSQL restart takes a few.
const DATABASE_RETRY_AFTER: &str = "5";

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use DeskError as D;
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", "Bad request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            ApiError::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many requests",
            ),
            ApiError::MfaEnrollmentRequired => (
                StatusCode::FORBIDDEN,
                "mfa_enrollment_required",
                "Two-factor authentication required",
            ),
            ApiError::ReadOnlyToken => {
                (StatusCode::FORBIDDEN, "read_only_token", "Read-only token")
            }
            ApiError::Desk(e) => match e {
                D::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
                D::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
                D::Invalid(_) | D::BulkInvalid(_) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    "Validation failed",
                ),
                D::Transition(_) => (
                    StatusCode::CONFLICT,
                    "invalid_transition",
                    "Invalid state transition",
                ),
                D::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
                D::IdempotencyMismatch => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "Idempotency key reused",
                ),
                D::TooLarge(_) => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "Payload too large",
                ),
                D::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
                D::Store(e) if crate::store::is_unavailable(e) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "Database unavailable",
                ),
                D::Internal(e)
                    if e.downcast_ref::<sqlx::Error>()
                        .is_some_and(crate::store::is_unavailable) =>
                {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "database_unavailable",
                        "Database unavailable",
                    )
                }
                D::Internal(e)
                    if e.downcast_ref::<crate::desk::files::StorageUnavailable>()
                        .is_some() =>
                {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "storage_unavailable",
                        "Attachment storage unavailable",
                    )
                }
                // `Retry` never leaves `Desk::run`; if it did, it would be
                // the internal error it stands for.
                D::Store(_) | D::Internal(_) | D::Retry(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal server error",
                ),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.parts();
        let detail = if code == "database_unavailable" {
            tracing::warn!(error = ?self, "the database is unavailable");
            "the database is unavailable; nothing was changed, try again shortly".to_string()
        } else if code == "storage_unavailable" {
            tracing::warn!(error = ?self, "the attachment store is unavailable");
            "the attachment store is unavailable; nothing was changed, try again shortly"
                .to_string()
        } else if status.is_server_error() {
            let chain: Vec<String> =
                std::iter::successors(Some(&self as &dyn std::error::Error), |e| e.source())
                    .map(ToString::to_string)
                    .collect();
            tracing::error!(error = %chain.join(": "), "request failed");
            "the server could not complete the request; it has been logged".to_string()
        } else {
            self.to_string()
        };
        let (errors, allowed) = match &self {
            ApiError::Desk(DeskError::Invalid(fields)) => (
                fields
                    .iter()
                    .map(|f| FieldProblem {
                        field: f.field.to_string(),
                        message: f.message.clone(),
                    })
                    .collect(),
                None,
            ),
            ApiError::Desk(DeskError::BulkInvalid(entries)) => (
                entries
                    .iter()
                    .map(|e| FieldProblem {
                        field: format!("{}[{}]", e.section, e.index),
                        message: e.errors.join("; "),
                    })
                    .collect(),
                None,
            ),
            ApiError::Desk(DeskError::Transition(t)) => (
                Vec::new(),
                Some(t.allowed.iter().map(|s| s.as_str().to_string()).collect()),
            ),
            _ => (Vec::new(), None),
        };
        let problem = Problem {
            kind: format!("https://switchboard.dev/problems/{code}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            code,
            errors,
            allowed,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = &self
        {
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        if code == "database_unavailable" || code == "storage_unavailable" {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(DATABASE_RETRY_AFTER),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"switchboard\""),
            );
        }
        response
    }
}
