//! `/api/v1/tickets…`: create, read, list, transition, assign, update,
//! comments, attachments and activity.

use axum::{
    extract::{Multipart, Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{digest, respond, ApiJson, ApiQuery, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::desk::{
    tickets::{Assignment, ListTickets, OpenTicket, TicketChanges},
    views::{ActivityView, AttachmentView, CommentView, PersonRef, TicketList, TicketView},
    DeskError,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tickets", post(create_ticket).get(list_tickets))
        .route("/tickets/{number}", get(get_ticket).patch(update_ticket))
        .route("/tickets/{number}/transitions", post(transition_ticket))
        .route("/tickets/{number}/satisfaction", post(rate_ticket))
        .route("/tickets/{number}/assignment", post(assign_ticket))
        .route(
            "/tickets/{number}/comments",
            get(list_comments).post(add_comment),
        )
        .route(
            "/tickets/{number}/attachments",
            get(list_attachments).post(upload_attachment),
        )
        .route(
            "/tickets/{number}/attachments/{id}",
            get(download_attachment),
        )
        .route("/tickets/{number}/activity", get(list_activity))
        .route(
            "/tickets/{number}/watchers",
            get(list_watchers).post(add_watcher),
        )
        .route(
            "/tickets/{number}/watchers/{person}",
            axum::routing::delete(remove_watcher),
        )
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddWatcher {
    pub person: Uuid,
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/watchers", tag = "tickets",
    params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = [PersonRef])), security(("bearer" = [])))]
pub async fn list_watchers(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<PersonRef>>, ApiError> {
    Ok(Json(state.desk.list_watchers(&actor, &number).await?))
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/watchers", tag = "tickets", request_body = AddWatcher,
    params(("number" = String, Path, description = "Ticket number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = [PersonRef], description = "The watchers now"), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn add_watcher(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<AddWatcher>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/watchers"),
        &body.digest,
        StatusCode::OK,
    );
    let person = body.value.person;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .add_watcher(work, &actor, &number, person));
    Ok(respond(StatusCode::OK, outcome))
}

#[utoipa::path(delete, path = "/api/v1/tickets/{number}/watchers/{person}", tag = "tickets",
    params(("number" = String, Path, description = "Ticket number"), ("person" = Uuid, Path, description = "Person id")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn remove_watcher(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((number, person)): Path<(String, Uuid)>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk
        .remove_watcher(work, &actor, &number, person));
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    /// `incident`, `service_request`, `problem` or `change`.
    #[schema(example = "incident")]
    pub kind: String,
    #[schema(example = "VPN drops every few minutes")]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// `high`, `medium` (default) or `low`.
    pub impact: Option<String>,
    /// `high`, `medium` (default) or `low`.
    pub urgency: Option<String>,
    /// Category name or id.
    pub category: Option<String>,
    /// Team name or id; defaults to the category's team.
    pub team: Option<String>,
    /// Agents only: raise the ticket for this person (email or id).
    pub requester: Option<String>,
    /// Labels, e.g. `["vpn", "emea"]` (lower-cased; letters, digits, `-_.:/`).
    #[serde(default)]
    pub tags: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", request_body = CreateTicket,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key: a repeat returns the first result")),
    responses((status = 201, body = TicketView), (status = 422, body = Problem), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_ticket(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CreateTicket>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/tickets",
        &body.digest,
        StatusCode::CREATED,
    );
    let b = body.value;
    let input = OpenTicket {
        kind: b.kind,
        title: b.title,
        description: b.description,
        impact: b.impact,
        urgency: b.urgency,
        category: b.category,
        team: b.team,
        requester: b.requester,
        tags: b.tags,
    };
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .open_ticket(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}", tag = "tickets",
    params(("number" = String, Path, description = "Ticket number, e.g. INC0000042")),
    responses((status = 200, body = TicketView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_ticket(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<TicketView>, ApiError> {
    Ok(Json(state.desk.get_ticket(&actor, &number).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub kind: Option<String>,
    pub state: Option<String>,
    pub priority: Option<String>,
    /// Team name or id.
    pub team: Option<String>,
    /// Person email or id.
    pub assignee: Option<String>,
    /// Person email or id.
    pub requester: Option<String>,
    /// Text in title, description or number (case-insensitive).
    pub q: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub updated_after: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
    /// `true`: only tickets nobody is assigned to.
    #[serde(default)]
    pub unassigned: bool,
    /// `true`: only tickets of the caller's teams.
    #[serde(default)]
    pub my_teams: bool,
    /// `warned` (at risk) or `breached`: open tickets whose SLA stands so.
    pub sla: Option<String>,
    /// `true`: only open tickets (not resolved, closed, cancelled or rejected).
    #[serde(default)]
    pub open: bool,
    /// `-created_at` (default), `created_at`, `-updated_at`, `updated_at`.
    pub sort: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", params(ListQuery),
    responses((status = 200, body = TicketList), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn list_tickets(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<TicketList>, ApiError> {
    let query = ListTickets {
        kind: q.kind,
        state: q.state,
        priority: q.priority,
        team: q.team,
        assignee: q.assignee,
        requester: q.requester,
        q: q.q,
        created_after: q.created_after,
        created_before: q.created_before,
        updated_after: q.updated_after,
        updated_before: q.updated_before,
        unassigned: q.unassigned,
        my_teams: q.my_teams,
        sla: q.sla,
        open: q.open,
        sort: q.sort,
        cursor: q.cursor,
        limit: q.limit,
    };
    Ok(Json(state.desk.list_tickets(&actor, query).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// The state to move to; see the ticket's `allowed_transitions`.
    #[schema(example = "in_progress")]
    pub to: String,
    /// Optional public comment recorded with the change (e.g. the resolution).
    pub comment: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/transitions", tag = "tickets", request_body = TransitionRequest,
    params(("number" = String, Path, description = "Ticket number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = TicketView), (status = 409, body = Problem, description = "Illegal transition; `allowed` lists the legal ones")),
    security(("bearer" = [])))]
pub async fn transition_ticket(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<TransitionRequest>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/transitions"),
        &body.digest,
        StatusCode::OK,
    );
    let TransitionRequest { to, comment } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .transition(work, &actor, &number, &to, comment));
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    /// 1 (poor) to 5 (excellent).
    #[schema(example = 5)]
    pub score: i64,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/satisfaction", tag = "tickets", request_body = RatingRequest,
    params(("number" = String, Path, description = "Ticket number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = TicketView), (status = 403, body = Problem, description = "Not the requester"),
              (status = 409, body = Problem, description = "Not resolved yet"), (status = 422, body = Problem)),
    security(("bearer" = [])))]
/// The requester rates a resolved or closed ticket (1–5).
pub async fn rate_ticket(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<RatingRequest>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/satisfaction"),
        &body.digest,
        StatusCode::OK,
    );
    let score = body.value.score;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .rate_ticket(work, &actor, &number, score));
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// Team name or id; `null` removes the team; absent keeps it.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub team: Option<Option<String>>,
    /// Agent email or id; `null` unassigns; absent keeps it.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub assignee: Option<Option<String>>,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/assignment", tag = "tickets", request_body = AssignRequest,
    params(("number" = String, Path, description = "Ticket number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = TicketView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn assign_ticket(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<AssignRequest>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/assignment"),
        &body.digest,
        StatusCode::OK,
    );
    let change = Assignment {
        team: body.value.team,
        assignee: body.value.assignee,
    };
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .assign(work, &actor, &number, change));
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicketRequest {
    pub title: Option<String>,
    pub description: Option<String>,
    pub impact: Option<String>,
    pub urgency: Option<String>,
    /// Category name or id; `null` removes it.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<String>)]
    pub category: Option<Option<String>>,
    /// Replaces the ticket's tags.
    pub tags: Option<Vec<String>>,
}

#[utoipa::path(patch, path = "/api/v1/tickets/{number}", tag = "tickets", request_body = UpdateTicketRequest,
    params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = TicketView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_ticket(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
    body: ApiJson<UpdateTicketRequest>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let changes = TicketChanges {
        title: b.title,
        description: b.description,
        impact: b.impact,
        urgency: b.urgency,
        category: b.category,
        tags: b.tags,
    };
    let outcome = run_use_case!(state, None::<crate::desk::Intake>, |desk, work| desk
        .update_ticket(work, &actor, &number, changes));
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    pub body: String,
    /// Internal notes are visible to agents only.
    #[serde(default)]
    pub internal: bool,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/comments", tag = "tickets", request_body = CommentRequest,
    params(("number" = String, Path, description = "Ticket number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = CommentView), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn add_comment(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<CommentRequest>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/comments"),
        &body.digest,
        StatusCode::CREATED,
    );
    let CommentRequest { body, internal } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .add_comment(work, &actor, &number, &body, internal));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/comments", tag = "tickets",
    params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = [CommentView])), security(("bearer" = [])))]
pub async fn list_comments(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<CommentView>>, ApiError> {
    Ok(Json(state.desk.list_comments(&actor, &number).await?))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/activity", tag = "tickets",
    params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = [ActivityView])), security(("bearer" = [])))]
pub async fn list_activity(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<ActivityView>>, ApiError> {
    Ok(Json(state.desk.list_activity(&actor, &number).await?))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/attachments", tag = "tickets",
    params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = [AttachmentView])), security(("bearer" = [])))]
pub async fn list_attachments(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<AttachmentView>>, ApiError> {
    Ok(Json(state.desk.list_attachments(&actor, &number).await?))
}

/// Upload form: one part named `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/attachments", tag = "tickets",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    params(("number" = String, Path, description = "Ticket number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = AttachmentView), (status = 413, body = Problem)), security(("bearer" = [])))]
pub async fn upload_attachment(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, ApiError> {
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("file") {
            let filename = field.file_name().unwrap_or("attachment").to_string();
            let bytes = field.bytes().await.map_err(multipart_error)?;
            file = Some((filename, bytes));
        }
    }
    let (filename, bytes) = file.ok_or_else(|| {
        DeskError::invalid("file", "send the file as a multipart part named `file`")
    })?;
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/attachments"),
        &digest(&bytes),
        StatusCode::CREATED,
    );
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .add_attachment(work, &actor, &number, &filename, &bytes));
    Ok(respond(StatusCode::CREATED, outcome))
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("the upload is larger than server.max_body_bytes allows".into())
    } else {
        ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
    }
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/attachments/{id}", tag = "tickets",
    params(("number" = String, Path, description = "Ticket number"), ("id" = Uuid, Path, description = "Attachment id")),
    responses((status = 200, description = "The file, with its sniffed content type", content_type = "application/octet-stream")),
    security(("bearer" = [])))]
pub async fn download_attachment(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((number, id)): Path<(String, Uuid)>,
) -> Result<Response, ApiError> {
    let (meta, bytes) = state.desk.read_attachment(&actor, &number, id).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&meta.content_type) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    let safe_name: String = meta
        .filename
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' || *c == ' ')
        .collect();
    if let Ok(cd) = HeaderValue::from_str(&format!("attachment; filename=\"{safe_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, cd);
    }
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
