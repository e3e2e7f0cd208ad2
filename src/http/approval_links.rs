//! `/approvals/email/{token}`: the pages behind the Approve and Reject
//! links of approval request mails. No sign-in: the signed token is the
//! credential. `GET` only shows what the link would do (mail scanners open
//! links), with a form; the form's `POST` decides.

use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Form, Router,
};
use handlebars::html_escape;
use serde::Deserialize;

use super::AppState;
use crate::desk::approval_links::{LinkPage, LinkRefusal};

pub fn router() -> Router<AppState> {
    Router::new().route("/approvals/email/{token}", get(show).post(decide))
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    pub reason: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.desk.inspect_approval_link(&token).await {
        Ok(page) => html(
            StatusCode::OK,
            "Confirm your decision",
            &confirm_body(&page),
        ),
        Err(refusal) => refused(refusal),
    }
}

#[tracing::instrument(skip_all)]
async fn decide(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Response {
    match state.desk.decide_by_link(&token, form.reason).await {
        Ok(page) => {
            let done = if page.decision == "approve" {
                "approved"
            } else {
                "rejected"
            };
            let body = format!(
                "<p>You {done} the request for <strong>{}</strong> &ldquo;{}&rdquo; (policy {}, stage {}).</p>\
                 <p>The approval is now <strong>{}</strong>. You can close this page.</p>",
                esc(&page.ticket),
                esc(&page.ticket_title),
                esc(&page.policy),
                esc(&page.stage),
                esc(&page.status),
            );
            html(StatusCode::OK, "Decision recorded", &body)
        }
        Err(refusal) => refused(refusal),
    }
}

fn esc(s: &str) -> String {
    html_escape(s)
}

fn confirm_body(page: &LinkPage) -> String {
    let (verb, button, colour) = if page.decision == "approve" {
        ("approve", "Approve", "#1a7f37")
    } else {
        ("reject", "Reject", "#cf222e")
    };
    let reason = if page.decision == "reject" {
        "<p><label for=\"reason\">Why do you reject it? (required)</label><br>\
         <textarea id=\"reason\" name=\"reason\" rows=\"4\" cols=\"60\" required maxlength=\"4000\"></textarea></p>"
    } else {
        "<p><label for=\"reason\">Comment (optional)</label><br>\
         <textarea id=\"reason\" name=\"reason\" rows=\"3\" cols=\"60\" maxlength=\"4000\"></textarea></p>"
    };
    format!(
        "<p>{approver}, you are about to <strong>{verb}</strong> the request for \
         <strong>{ticket}</strong> &ldquo;{title}&rdquo; (policy {policy}, stage {stage}).</p>\
         <form method=\"post\">{reason}\
         <p><button type=\"submit\" style=\"padding: 8px 16px; background: {colour}; color: #fff; \
         border: 0; border-radius: 4px\">{button} {ticket}</button></p></form>\
         <p style=\"color: #57606a\">Nothing is decided until you press the button.</p>",
        approver = esc(&page.approver),
        ticket = esc(&page.ticket),
        title = esc(&page.ticket_title),
        policy = esc(&page.policy),
        stage = esc(&page.stage),
    )
}

fn refused(refusal: LinkRefusal) -> Response {
    let (status, title) = match &refusal {
        LinkRefusal::Malformed(_) => (StatusCode::BAD_REQUEST, "This link is not valid"),
        LinkRefusal::Invalid(_) => (StatusCode::BAD_REQUEST, "Something is missing"),
        LinkRefusal::Forged(_) => (StatusCode::FORBIDDEN, "This link is not valid"),
        LinkRefusal::NotAllowed(_) => (StatusCode::FORBIDDEN, "You cannot decide this"),
        LinkRefusal::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
        LinkRefusal::Expired(_) => (StatusCode::GONE, "This link has expired"),
        LinkRefusal::Used(_) => (StatusCode::GONE, "This link was already used"),
        LinkRefusal::Closed(_) => (StatusCode::CONFLICT, "Already decided"),
        LinkRefusal::Failed(e) => {
            tracing::error!(error = ?e, "approval link failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")
        }
    };
    let body = format!(
        "<p>{}</p><p>Nothing was changed.</p>",
        esc(&refusal.to_string())
    );
    html(status, title, &body)
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{t} · Switchboard</title></head>\
         <body style=\"font-family: sans-serif; max-width: 40em; margin: 2em auto; padding: 0 1em\">\
         <h1 style=\"font-size: 1.4em\">{t}</h1>{body}</body></html>",
        t = esc(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page,
    )
        .into_response()
}
