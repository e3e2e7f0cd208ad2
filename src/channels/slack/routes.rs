//! Slack's HTTP endpoints: `/slack/events`, `/slack/commands`,
//! `/slack/interactions` — the signature is checked before anything else
//! (401 and nothing stored when it fails), then the request goes to
//! `inbound` — and the OAuth install flow (`/slack/install` for admins,
//! `/slack/oauth/callback` for Slack's redirect). `app` mounts them when
//! Slack is configured; the install link sits behind the HTTP layer's API
//! authentication, which hands its handler the signed-in admin.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Extension, Json, Router,
};

use super::{
    inbound::{Reply, Slack},
    oauth::InstallError,
    verify::verify,
};
use crate::desk::{Actor, DeskError};

/// The endpoints Slack calls (signed requests, the OAuth redirect).
pub fn router<S: Clone + Send + Sync + 'static>(slack: Slack) -> Router<S> {
    // The OAuth install flow (several workspaces), when configured.
    let oauth = if slack.settings.oauth_enabled() {
        Router::new().route(
            "/slack/oauth/callback",
            get(oauth_callback).with_state(slack.clone()),
        )
    } else {
        Router::new()
    };
    // Socket Mode without a signing secret: nothing could be verified, so
    // no event endpoints are mounted.
    if slack.signing_secret.is_empty() {
        return oauth;
    }
    oauth
        .route("/slack/events", post(events).with_state(slack.clone()))
        .route("/slack/commands", post(commands).with_state(slack.clone()))
        .route("/slack/interactions", post(interactions).with_state(slack))
}

fn check(slack: &Slack, headers: &HeaderMap, body: &[u8]) -> Result<(), (StatusCode, String)> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    verify(
        &slack.signing_secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        body,
        chrono::Utc::now().timestamp(),
    )
    .map_err(|error| {
        tracing::info!(%error, "refused a Slack request");
        (StatusCode::UNAUTHORIZED, error.to_string())
    })
}

fn answer(reply: Reply) -> Response {
    match reply {
        Reply::Ack => StatusCode::OK.into_response(),
        Reply::Json(body) if body.get("error").is_some() => {
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
        Reply::Json(body) => Json(body).into_response(),
        Reply::Retry => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn events(State(slack): State<Slack>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = check(&slack, &headers, &body) {
        return refusal.into_response();
    }
    let first_delivery = !headers.contains_key("x-slack-retry-num");
    answer(slack.event(&body, first_delivery).await)
}

fn form(body: &[u8]) -> Result<Vec<(String, String)>, (StatusCode, String)> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("malformed form: {e}")))
}

async fn commands(State(slack): State<Slack>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = check(&slack, &headers, &body) {
        return refusal.into_response();
    }
    match form(&body) {
        Ok(fields) => answer(slack.command(&fields, &body).await),
        Err(refusal) => refusal.into_response(),
    }
}

async fn interactions(State(slack): State<Slack>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refusal) = check(&slack, &headers, &body) {
        return refusal.into_response();
    }
    let fields = match form(&body) {
        Ok(fields) => fields,
        Err(refusal) => return refusal.into_response(),
    };
    match fields.iter().find(|(k, _)| k == "payload") {
        Some((_, payload)) => answer(slack.interaction(payload, &body).await),
        None => (StatusCode::BAD_REQUEST, "no payload field").into_response(),
    }
}

/// The endpoints an organization's admin opens: to be mounted behind API
/// authentication that puts the admin's [`Actor`] in the request.
pub fn admin_router<S: Clone + Send + Sync + 'static>(slack: Slack) -> Router<S> {
    if slack.settings.oauth_enabled() {
        Router::new().route("/slack/install", get(install).with_state(slack))
    } else {
        Router::new()
    }
}

/// `GET /slack/install` (admins): redirects to Slack's authorize page to
/// install the app in a workspace of the caller's organization.
async fn install(State(slack): State<Slack>, Extension(actor): Extension<Actor>) -> Response {
    match slack.install_url(actor.org_id) {
        Ok(url) => (StatusCode::FOUND, [(axum::http::header::LOCATION, url)]).into_response(),
        Err(error) => (StatusCode::NOT_FOUND, error.to_string()).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /slack/oauth/callback`: where Slack sends the installer back.
async fn oauth_callback(
    State(slack): State<Slack>,
    axum::extract::Query(query): axum::extract::Query<Callback>,
) -> Response {
    match slack
        .finish_install(
            query.code.as_deref(),
            query.state.as_deref(),
            query.error.as_deref(),
        )
        .await
    {
        Ok(team) => (
            StatusCode::OK,
            format!(
                "Switchboard is installed in the Slack workspace {team}. You can close this page."
            ),
        )
            .into_response(),
        Err(error @ (InstallError::BadState | InstallError::Denied(_))) => {
            (StatusCode::BAD_REQUEST, error.to_string()).into_response()
        }
        Err(error @ InstallError::NotConfigured) => {
            (StatusCode::NOT_FOUND, error.to_string()).into_response()
        }
        Err(error @ InstallError::Slack(_)) => {
            tracing::warn!(%error, "Slack install failed");
            (StatusCode::BAD_GATEWAY, error.to_string()).into_response()
        }
        Err(InstallError::Desk(error)) => desk_failure(&error),
    }
}

/// The install could not be saved (storage, sealing the token): the cause
/// is logged, never shown; the installer may try again.
fn desk_failure(error: &DeskError) -> Response {
    tracing::error!(error = %format!("{error:#}"), "saving a Slack install failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "the install could not be saved; try again",
    )
        .into_response()
}
