//! `/api/v1/email/…`: what the mail intake could not turn into a ticket
//! change (the quarantine), for admins.

use axum::{extract::State, routing::get, Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{
    error::{ApiError, Problem},
    extract::{ApiQuery, Auth},
    AppState,
};
use crate::desk::mail::QuarantineView;

pub fn router() -> Router<AppState> {
    Router::new().route("/email/quarantine", get(list_quarantine))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QuarantineQuery {
    /// 1–500, default 100.
    pub limit: Option<i64>,
}

/// Messages kept aside with the reason (unreadable, rate limited, unknown
/// sender, refused by the desk), newest first. Admins only.
#[utoipa::path(get, path = "/api/v1/email/quarantine", tag = "email", params(QuarantineQuery),
    responses((status = 200, body = [QuarantineView]), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn list_quarantine(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(q): ApiQuery<QuarantineQuery>,
) -> Result<Json<Vec<QuarantineView>>, ApiError> {
    Ok(Json(
        state
            .desk
            .list_quarantine(&actor, q.limit.unwrap_or(100))
            .await?,
    ))
}
