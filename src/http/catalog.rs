//! `/api/v1/catalog/…`: categories and items with their forms, orders, and
//! `/api/v1/tickets/{number}/request` (what a service request ordered).

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    extract::{respond, ApiJson, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::desk::catalog::{
    CatalogCategoryView, CatalogView, ItemInput, ItemView, OrderInput, RequestView,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/catalog", get(catalog))
        .route("/catalog/categories", post(create_category))
        .route("/catalog/items", post(create_item))
        .route("/catalog/items/{id}", get(get_item).put(update_item))
        .route("/catalog/items/{id}/orders", post(order))
        .route("/tickets/{number}/request", get(get_request))
}

#[utoipa::path(get, path = "/api/v1/catalog", tag = "catalog", responses((status = 200, body = CatalogView)), security(("bearer" = [])))]
pub async fn catalog(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<CatalogView>, ApiError> {
    Ok(Json(state.desk.catalog(&actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCategory {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Display order, ascending.
    pub position: Option<i32>,
}

#[utoipa::path(post, path = "/api/v1/catalog/categories", tag = "catalog", request_body = CreateCategory,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = CatalogCategoryView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_category(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CreateCategory>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/catalog/categories",
        &body.digest,
        StatusCode::CREATED,
    );
    let CreateCategory {
        name,
        description,
        position,
    } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk.create_catalog_category(
        work,
        &actor,
        &name,
        &description,
        position
    ));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(post, path = "/api/v1/catalog/items", tag = "catalog", request_body = ItemInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = ItemView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn create_item(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<ItemInput>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/catalog/items",
        &body.digest,
        StatusCode::CREATED,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_catalog_item(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/catalog/items/{id}", tag = "catalog", params(("id" = Uuid, Path, description = "Item id")),
    responses((status = 200, body = ItemView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_item(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<ItemView>, ApiError> {
    Ok(Json(state.desk.get_catalog_item(&actor, id).await?))
}

#[utoipa::path(put, path = "/api/v1/catalog/items/{id}", tag = "catalog", request_body = ItemInput, params(("id" = Uuid, Path, description = "Item id")),
    responses((status = 200, body = ItemView), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_item(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    body: ApiJson<ItemInput>,
) -> Result<Json<ItemView>, ApiError> {
    let input = body.value;
    Ok(Json(super::exec_use_case!(state, |desk, work| desk
        .update_catalog_item(work, &actor, id, input))))
}

#[utoipa::path(post, path = "/api/v1/catalog/items/{id}/orders", tag = "catalog", request_body = OrderInput,
    params(("id" = Uuid, Path, description = "Item id"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = RequestView), (status = 404, body = Problem), (status = 422, body = Problem, description = "Answers refused, each error naming `answers.<key>`")),
    security(("bearer" = [])))]
pub async fn order(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    idempotency: IdempotencyKey,
    body: ApiJson<OrderInput>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/catalog/items/{id}/orders"),
        &body.digest,
        StatusCode::CREATED,
    );
    let input = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .order_item(work, &actor, id, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/tickets/{number}/request", tag = "catalog", params(("number" = String, Path, description = "Ticket number")),
    responses((status = 200, body = RequestView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_request(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(number): Path<String>,
) -> Result<Json<RequestView>, ApiError> {
    Ok(Json(state.desk.get_request(&actor, &number).await?))
}
