//! What a console page answers when it cannot show what was asked: the
//! desk's refusals as a page with the same status the API would send,
//! a sign-in redirect for strangers, 503 with Retry-After when the
//! database is away.

use askama::Template;
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
};

use crate::desk::{files::StorageUnavailable as Unavailable, DeskError};

#[derive(Debug)]
pub enum PageError {
    Desk(DeskError),
    /// Nobody is signed in: to the sign-in page, then back to `next`.
    SignIn {
        next: String,
    },
    Redirect(String),
    /// A form without its anti-forgery token (or with another session's).
    Forgery,
    BadRequest(String),
}

impl From<DeskError> for PageError {
    fn from(error: DeskError) -> Self {
        PageError::Desk(error)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    detail: String,
    allowed: Vec<String>,
}

/// The status and a person's words for a desk refusal.
pub fn describe(error: &DeskError) -> (StatusCode, &'static str) {
    match error {
        DeskError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
        DeskError::Forbidden(_) => (StatusCode::FORBIDDEN, "Not allowed"),
        DeskError::Invalid(_) | DeskError::BulkInvalid(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Please check the form")
        }
        DeskError::Transition(_) => (StatusCode::CONFLICT, "That move is not allowed"),
        DeskError::Conflict(_) => (StatusCode::CONFLICT, "Conflict"),
        DeskError::IdempotencyMismatch => (StatusCode::UNPROCESSABLE_ENTITY, "Conflict"),
        DeskError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "Too large"),
        DeskError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "Please sign in"),
        DeskError::Store(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The service desk is briefly unavailable",
        ),
        DeskError::Internal(e) if e.downcast_ref::<Unavailable>().is_some() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The service desk is briefly unavailable",
        ),
        DeskError::Internal(_) | DeskError::Retry(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side",
        ),
    }
}

/// The message a person reads for a refusal (server faults are logged,
/// not shown).
pub fn message(error: &DeskError) -> String {
    match error {
        DeskError::Store(_) => "Please try again in a few seconds.".into(),
        DeskError::Internal(e) if e.downcast_ref::<Unavailable>().is_some() => {
            "Attachments cannot be stored just now; please try again in a few seconds.".into()
        }
        DeskError::Internal(_) | DeskError::Retry(_) => {
            "The request could not be completed; it has been logged.".into()
        }
        DeskError::Invalid(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, detail, allowed) = match &self {
            PageError::SignIn { next } => {
                let to = format!(
                    "/console/sign-in?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                return Redirect::to(&to).into_response();
            }
            PageError::Redirect(to) => return Redirect::to(to).into_response(),
            PageError::Forgery => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was sent without its security token (or from another session). \
                 Go back, reload the page and send it again."
                    .to_string(),
                Vec::new(),
            ),
            PageError::BadRequest(why) => (
                StatusCode::BAD_REQUEST,
                "Bad request",
                why.clone(),
                Vec::new(),
            ),
            PageError::Desk(error) => {
                let (status, title) = describe(error);
                if status.is_server_error() {
                    let chain: Vec<String> =
                        std::iter::successors(Some(error as &dyn std::error::Error), |e| {
                            e.source()
                        })
                        .map(ToString::to_string)
                        .collect();
                    tracing::error!(error = %chain.join(": "), "console page failed");
                }
                let allowed = match error {
                    DeskError::Transition(t) => t
                        .allowed
                        .iter()
                        .map(|s| s.as_str().replace('_', " "))
                        .collect(),
                    _ => Vec::new(),
                };
                (status, title, message(error), allowed)
            }
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            detail,
            allowed,
        };
        let mut response = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, title.to_string()).into_response(),
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
