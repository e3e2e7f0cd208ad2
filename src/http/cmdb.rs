//! `/api/v1/cmdb/…`: classes, configuration items, relationships, impact
//! analysis, history and the bulk upsert; `/api/v1/tickets/{number}/cis`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{respond, ApiJson, ApiQuery, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::desk::{
    cmdb::{
        BulkResult, BulkUpsert, CiChanges, CiDetail, CiInput, CiRef, CiView, ClassView,
        HistoryView, Impact, RelationshipInput, RelationshipView,
    },
    DeskError, Intake,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cmdb/classes", get(list_classes).post(create_class))
        .route("/cmdb/cis", get(list_cis).post(create_ci))
        .route(
            "/cmdb/cis/{id}",
            get(get_ci).patch(update_ci).delete(delete_ci),
        )
        .route("/cmdb/cis/{id}/history", get(history))
        .route("/cmdb/cis/{id}/impact", get(impact))
        .route("/cmdb/relationships", post(add_relationship))
        .route("/cmdb/relationships/{id}", delete(remove_relationship))
        .route("/cmdb/bulk", post(bulk))
        .route("/tickets/{number}/cis", get(ticket_cis).post(link_ci))
        .route("/tickets/{number}/cis/{ci}", delete(unlink_ci))
}

#[utoipa::path(get, path = "/api/v1/cmdb/classes", tag = "cmdb", responses((status = 200, body = [ClassView])), security(("bearer" = [])))]
pub async fn list_classes(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<ClassView>>, ApiError> {
    Ok(Json(state.desk.list_classes(&actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClass {
    /// Lowercase identifier, e.g. `load_balancer`.
    pub name: String,
    pub label: String,
    /// `{"attributes": [{"name": "vip", "kind": {"type": "ip_address"}, "required": true, "unique": true}]}`
    #[schema(value_type = Object)]
    pub schema: serde_json::Value,
}

#[utoipa::path(post, path = "/api/v1/cmdb/classes", tag = "cmdb", request_body = CreateClass,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = ClassView), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_class(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CreateClass>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/cmdb/classes",
        &body.digest,
        StatusCode::CREATED,
    );
    let CreateClass {
        name,
        label,
        schema,
    } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_class(work, &actor, &name, &label, &schema));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CiQuery {
    /// Class name.
    pub class: Option<String>,
    /// Text in the name or external id.
    pub q: Option<String>,
    pub cursor: Option<String>,
    /// 1–500, default 100.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CiList {
    pub items: Vec<CiView>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/cmdb/cis", tag = "cmdb", params(CiQuery), responses((status = 200, body = CiList)), security(("bearer" = [])))]
pub async fn list_cis(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiQuery(q): ApiQuery<CiQuery>,
) -> Result<Json<CiList>, ApiError> {
    let (items, next_cursor) = state
        .desk
        .list_cis(
            &actor,
            q.class.as_deref(),
            q.q.as_deref(),
            q.cursor.as_deref(),
            q.limit.unwrap_or(100),
        )
        .await?;
    Ok(Json(CiList { items, next_cursor }))
}

#[utoipa::path(post, path = "/api/v1/cmdb/cis", tag = "cmdb", request_body = CiInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = CiView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_ci(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CiInput>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/cmdb/cis",
        &body.digest,
        StatusCode::CREATED,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_ci(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/cmdb/cis/{id}", tag = "cmdb", params(("id" = Uuid, Path, description = "CI id")),
    responses((status = 200, body = CiDetail), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_ci(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<CiDetail>, ApiError> {
    Ok(Json(state.desk.get_ci(&actor, id).await?))
}

#[utoipa::path(patch, path = "/api/v1/cmdb/cis/{id}", tag = "cmdb", request_body = CiChanges, params(("id" = Uuid, Path, description = "CI id")),
    responses((status = 200, body = CiView), (status = 403, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_ci(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    body: ApiJson<CiChanges>,
) -> Result<Response, ApiError> {
    let changes = body.value;
    let outcome = run_use_case!(state, None::<Intake>, |desk, work| desk
        .update_ci(work, &actor, id, changes));
    Ok(respond(StatusCode::OK, outcome))
}

#[utoipa::path(delete, path = "/api/v1/cmdb/cis/{id}", tag = "cmdb", params(("id" = Uuid, Path, description = "CI id")),
    responses((status = 204), (status = 409, body = Problem, description = "It has relationships or tickets: retire it instead")), security(("bearer" = [])))]
pub async fn delete_ci(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk.delete_ci(work, &actor, id));
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/cmdb/cis/{id}/history", tag = "cmdb", params(("id" = Uuid, Path, description = "CI id")),
    responses((status = 200, body = [HistoryView])), security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<HistoryView>>, ApiError> {
    Ok(Json(state.desk.ci_history(&actor, id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImpactQuery {
    /// Hops to follow, 1–10 (default 3).
    pub depth: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/cmdb/cis/{id}/impact", tag = "cmdb", params(("id" = Uuid, Path, description = "CI id"), ImpactQuery),
    responses((status = 200, body = Impact), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn impact(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    ApiQuery(q): ApiQuery<ImpactQuery>,
) -> Result<Response, ApiError> {
    let impact = state.desk.impact(&actor, id, q.depth.unwrap_or(3)).await?;
    // Answers run to megabytes: serialize into one buffer sized up front
    // rather than one that grows by copying.
    let listed = impact.upstream.len() + impact.downstream.len();
    let mut body = Vec::with_capacity(1024 + 400 * listed);
    serde_json::to_writer(&mut body, &impact).map_err(|e| {
        DeskError::from(anyhow::Error::new(e).context("serializing an impact answer"))
    })?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/cmdb/relationships", tag = "cmdb", request_body = RelationshipInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = RelationshipView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn add_relationship(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<RelationshipInput>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/cmdb/relationships",
        &body.digest,
        StatusCode::CREATED,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .add_relationship(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(delete, path = "/api/v1/cmdb/relationships/{id}", tag = "cmdb", params(("id" = Uuid, Path, description = "Relationship id")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn remove_relationship(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk
        .remove_relationship(work, &actor, id));
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/cmdb/bulk", tag = "cmdb", request_body = BulkUpsert,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = BulkResult), (status = 422, body = Problem, description = "Nothing applied; `errors` names each bad entry")),
    security(("bearer" = [])))]
pub async fn bulk(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<BulkUpsert>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/cmdb/bulk",
        &body.digest,
        StatusCode::OK,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .bulk_upsert(work, &actor, input));
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkCi {
    pub ci: Uuid,
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/cis", tag = "tickets", params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = [CiRef])), security(("bearer" = [])))]
pub async fn ticket_cis(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<Vec<CiRef>>, ApiError> {
    Ok(Json(state.desk.ticket_cis(&actor, &number).await?))
}

#[utoipa::path(post, path = "/api/v1/tickets/{number}/cis", tag = "tickets", request_body = LinkCi,
    params(("number" = String, Path, description = "Ticket number"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 200, body = [CiRef], description = "The linked CIs now")), security(("bearer" = [])))]
pub async fn link_ci(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(number): Path<String>,
    body: ApiJson<LinkCi>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/tickets/{number}/cis"),
        &body.digest,
        StatusCode::OK,
    );
    let ci = body.value.ci;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .link_ticket_ci(work, &actor, &number, ci));
    Ok(respond(StatusCode::OK, outcome))
}

#[utoipa::path(delete, path = "/api/v1/tickets/{number}/cis/{ci}", tag = "tickets",
    params(("number" = String, Path, description = "Ticket number"), ("ci" = Uuid, Path, description = "CI id")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn unlink_ci(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((number, ci)): Path<(String, Uuid)>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk
        .unlink_ticket_ci(work, &actor, &number, ci));
    Ok(StatusCode::NO_CONTENT)
}
