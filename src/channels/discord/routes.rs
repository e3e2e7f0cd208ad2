//! Discord's HTTP endpoint, `POST /discord/interactions`: the Ed25519
//! signature is checked before anything else (401 and nothing stored when
//! it fails — Discord's own endpoint check sends bad signatures and expects
//! exactly that), then the interaction goes to `inbound`. `app` mounts it
//! when Discord is configured.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
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
        Reply::BadRequest(message) => (StatusCode::BAD_REQUEST, message).into_response(),
        Reply::Retry => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
