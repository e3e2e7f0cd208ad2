//! `/slack/events`, `/slack/commands`, `/slack/interactions`: the signature
//! is checked before anything else (401 and nothing stored when it fails),
//! then the request goes to `channels::slack::inbound`. Mounted only when
//! Slack is configured.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};

use crate::channels::slack::{
    inbound::{Reply, Slack},
    verify::verify,
};

pub fn router<S: Clone + Send + Sync + 'static>(slack: Slack) -> Router<S> {
    Router::new()
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
    answer(slack.event(&body).await)
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
