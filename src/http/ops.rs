//! Operations endpoints: liveness, readiness (the database reachable and
//! migrated, and no supervised worker failing over and over), Prometheus
//! metrics, OpenAPI.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use utoipa::OpenApi;

use super::{ApiDoc, AppState};
use crate::store;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// How long `/readyz` and a `/metrics` scrape wait for the database: a
/// load balancer must hear "not ready" within a second even when the server
/// takes connections and never answers.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);

/// Whether the database answers within [`PROBE_TIMEOUT`] on a connection
/// of the probe's own, and has every migration applied; recorded in the
/// `database_up` gauge.
async fn probe_database(state: &AppState) -> Result<bool, String> {
    let answer = tokio::time::timeout(PROBE_TIMEOUT, state.desk.db.probe_migrations()).await;
    let result = match answer {
        Ok(Ok(applied)) => Ok(applied),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis())),
    };
    state.desk.metrics.set_database_up(result.is_ok());
    result
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Database reachable and migrated, workers running"), (status = 503, description = "Not ready, with the reason")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match probe_database(&state).await {
        Ok(true) => {
            // A replica whose dispatcher keeps dying delivers nothing: it
            // should be taken out of rotation (and looked at), not trusted.
            let failing = state.workers.failing();
            if failing.is_empty() {
                (StatusCode::OK, "ready").into_response()
            } else {
                let reasons: Vec<String> = failing.iter().map(ToString::to_string).collect();
                (StatusCode::SERVICE_UNAVAILABLE, reasons.join("; ")).into_response()
            }
        }
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database migrations pending",
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let metrics = &state.desk.metrics;
    match probe_database(&state).await {
        // The gauges read from the database keep their last values while it
        // is away: reading them would hold the scrape for the pool's acquire
        // timeout, and a scrape that times out shows nothing, not even the
        // outage.
        Err(error) => tracing::warn!(%error, "the database did not answer the metrics probe"),
        Ok(_) => {
            if let Ok(counts) = store::outbox::count_by_state(&state.desk.db, None).await {
                metrics.set_outbox_depth(&counts);
            }
            let now = store::now();
            if let Ok(oldest) = store::timers::oldest_due(&state.desk.db, now).await {
                metrics.set_oldest_overdue(
                    oldest.map_or(0.0, |due| (now - due).num_milliseconds() as f64 / 1000.0),
                );
            }
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses((status = 200, description = "This document")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
