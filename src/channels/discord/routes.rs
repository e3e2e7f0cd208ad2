//! Discord's HTTP endpoint, `POST /discord/interactions`: the Ed25519
//! signature is checked before anything else (401 and nothing stored when
//! it fails — Discord's own endpoint check sends bad signatures and expects
//! exactly that), then the interaction goes to `inbound`; a signed body
//! that is not an interaction is a 400 problem+json and changes nothing.
//! `app` mounts it when Discord is configured.

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};

use super::inbound::{Discord, Reply};

pub fn router<S: Clone + Send + Sync + 'static>(discord: Discord) -> Router<S> {
    Router::new().route(
        "/discord/interactions",
        post(interactions).with_state(discord),
    )
}

async fn interactions(State(discord): State<Discord>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(error) = discord.verifier.verify(
        header("x-signature-timestamp"),
        header("x-signature-ed25519"),
        &body,
        chrono::Utc::now().timestamp(),
    ) {
        tracing::info!(%error, "refused a Discord request");
        return (StatusCode::UNAUTHORIZED, error.to_string()).into_response();
    }
    match discord.interaction(&body).await {
        Reply::Json(answer) => Json(answer).into_response(),
        Reply::BadRequest(detail) => {
            tracing::info!(%detail, "refused a signed Discord body that is no interaction");
            bad_request(detail)
        }
        Reply::Retry => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// RFC 9457 problem+json, as the REST API answers a bad request (this
/// endpoint is outside `/api/v1`, whose layer rewraps plain errors).
fn bad_request(detail: String) -> Response {
    let problem = serde_json::json!({
        "type": "https://switchboard.dev/problems/bad_request",
        "title": "Bad Request",
        "status": 400,
        "detail": detail,
        "code": "bad_request",
    });
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/problem+json")],
        problem.to_string(),
    )
        .into_response()
}
