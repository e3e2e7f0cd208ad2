//! What every API answer holds to, whatever a handler or an extractor
//! does: an error is problem+json (axum's own rejections — a path segment
//! that is not a UUID or not UTF-8, a body that is not multipart — come as
//! plain text and are rewrapped here), and a NUL character in the path or
//! the query string is refused before any handler sees it (PostgreSQL
//! cannot hold one, so the same request must not work on SQLite alone).

use axum::{
    body::Body,
    extract::Request,
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use percent_encoding::percent_decode_str;

use super::error::Problem;

/// The longest rejection text read back into a problem's `detail`.
const DETAIL_MAX: usize = 16 * 1024;

/// Refuses a NUL character anywhere in the path or the query string with a
/// 400 naming where it is.
pub async fn refuse_nul(request: Request, next: Next) -> Response {
    if let Some(place) = nul_in(request.uri()) {
        return problem(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{place} contains a NUL character, which text cannot hold"),
        );
    }
    next.run(request).await
}

fn nul_in(uri: &axum::http::Uri) -> Option<String> {
    if percent_decode_str(uri.path()).any(|b| b == 0) {
        return Some("the path".into());
    }
    let query = uri.query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, value)| key.contains('\0') || value.contains('\0'))
        .map(|(key, _)| format!("query parameter `{}`", key.replace('\0', "")))
}

/// Rewraps an error answer that is not problem+json yet.
pub async fn problem_json(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let text = axum::body::to_bytes(response.into_body(), DETAIL_MAX)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut answer = problem(status, code(status), detail);
    if let Some(value) = retry_after {
        answer.headers_mut().insert(header::RETRY_AFTER, value);
    }
    answer
}

fn code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

fn problem(status: StatusCode, code: &'static str, detail: String) -> Response {
    let problem = Problem {
        kind: format!("https://switchboard.dev/problems/{code}"),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail,
        code,
        errors: Vec::new(),
        allowed: None,
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        Body::from(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_found_in_the_path_and_named_in_the_query() {
        let at = |s: &str| nul_in(&s.parse().expect("uri"));
        assert_eq!(
            at("/api/v1/tickets?q=%00abc").as_deref(),
            Some("query parameter `q`")
        );
        assert_eq!(
            at("/api/v1/tickets?team=a&assignee=x%00").as_deref(),
            Some("query parameter `assignee`")
        );
        assert_eq!(at("/api/v1/tickets/INC%00").as_deref(), Some("the path"));
        assert_eq!(at("/api/v1/tickets?q=50%25+off"), None);
        assert_eq!(at("/api/v1/tickets"), None);
    }
}
