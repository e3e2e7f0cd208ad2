//! `/api/v1/tickets/{number}/links` (make, list, remove links between
//! tickets) and `/api/v1/tickets/{number}/merge` (merge a duplicate into
//! another ticket).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{delete, get, post},
    Json, Router,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{respond, ApiJson, ApiQuery, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::desk::{tickets::MergeView, views::TicketLinkView};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets/{number}/links", get(list_links).post(create_link))
        .route("/tickets/{number}/links/{to}", delete(remove_link))
        .route("/tickets/{number}/merge", post(merge_ticket))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLink {
    /// The other ticket's number.
    #[schema(example = "INC0000042")]
    pub to: String,
    /// `related`, `duplicate_of`, `caused_by` or `blocks`: what this ticket
    /// is to the other (the other reads `related`, `duplicated_by`,
    /// `causes`, `blocked_by`).
    #[schema(example = "caused_by")]
    pub kind: String,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/links", tag = "tickets", request_body = CreateLink,
    params(("number" = String, Path, description = "Ticket number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = TicketLinkView, description = "The link as this ticket reads it"),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem, description = "Unknown kind, no such `to` ticket, a link to itself, or one already there")),
    security(("bearer" = [])))]
pub async fn create_link(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<CreateLink>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/links"),
        &body.digest,
        StatusCode::CREATED,
    );
    let CreateLink { to, kind } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .link_tickets(work, &actor, &number, &to, &kind));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/links", tag = "tickets",
    params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = [TicketLinkView], description = "Links in both directions, as this ticket reads them"),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn list_links(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<TicketLinkView>>, ApiError> {
    Ok(Json(state.desk.list_links(&actor, &number).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RemoveLinkQuery {
    /// Only this link, as this ticket reads it (`related`, `duplicate_of`,
    /// `duplicated_by`, `caused_by`, `causes`, `blocks`, `blocked_by`);
    /// without it every link between the two tickets goes.
    pub kind: Option<String>,
}

#[utoipa::path(delete, path = "/api/v1/tickets/{number}/links/{to}", tag = "tickets",
    params(("number" = String, Path, description = "Ticket number"), ("to" = String, Path, description = "The other ticket's number"), RemoveLinkQuery),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem, description = "No such ticket or link"),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn remove_link(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((number, to)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<RemoveLinkQuery>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk.unlink_tickets(
        work,
        &actor,
        &number,
        &to,
        query.kind.as_deref()
    ));
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The ticket that goes on (same organization and kind, not closed).
    #[schema(example = "INC0000042")]
    pub into: String,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/merge", tag = "tickets", request_body = MergeRequest,
    params(("number" = String, Path, description = "The ticket to merge (it closes as merged)"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = MergeView),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem, description = "Another kind, no such `into` ticket, itself, a closed or merged ticket")),
    security(("bearer" = [])))]
/// Merges this ticket into `into`: its description, comments and
/// attachments are copied there (marked `merged_from`), its requester and
/// watchers watch `into`, its chat threads and mail replies go there, and
/// it closes with `merged_into` and a `duplicate_of` link.
pub async fn merge_ticket(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<MergeRequest>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/merge"),
        &body.digest,
        StatusCode::OK,
    );
    let into = body.value.into;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .merge_ticket(work, &actor, &number, &into));
    Ok(respond(StatusCode::OK, outcome))
}
