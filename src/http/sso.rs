//! Single sign-on over the API: an organization's OpenID providers
//! (`/api/v1/sso/providers`, admins; the client secret is taken, never
//! answered), whether local passwords still sign in (`/api/v1/sso/settings`),
//! and the token exchange for API clients holding an ID token
//! (`/api/v1/auth/oidc/token`, no bearer token: it is a sign-in).
//!
//! Creating a provider fetches the issuer's discovery document first, so
//! it runs as its own use case rather than under an `Idempotency-Key`.

use std::{collections::BTreeMap, net::SocketAddr};

use axum::{
    extract::{ConnectInfo, Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{ApiJson, Auth},
    AppState,
};
use crate::desk::auth::{
    oidc::{ProviderInput, ProviderView, SsoSettingsView},
    Session,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sso/providers", get(list_providers).post(create_provider))
        .route(
            "/sso/providers/{id}",
            get(get_provider)
                .patch(update_provider)
                .delete(delete_provider),
        )
        .route("/sso/settings", get(settings).patch(update_settings))
        .route("/auth/oidc/token", post(exchange))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProvider {
    /// Shown on the sign-in button: "Sign in with <name>".
    pub name: String,
    /// The issuer URL; `<issuer>/.well-known/openid-configuration` must answer.
    pub issuer: String,
    pub client_id: String,
    /// Stored sealed; never answered.
    pub client_secret: String,
    /// Email domains whose people may sign in (and be created) through it.
    pub allowed_domains: Vec<String>,
    /// Group (from the groups claim) → role, e.g. `{"itsm-admins": "admin"}`.
    /// When set, each sign-in sets the person's roles from their groups
    /// (`requester` when none maps).
    #[serde(default)]
    pub role_mapping: BTreeMap<String, String>,
    /// The ID token claim listing the person's groups (default `groups`).
    pub groups_claim: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/sso/providers", tag = "sso", request_body = CreateProvider,
    responses((status = 201, body = ProviderView, description = "With the redirect URI to register at the provider"),
        (status = 422, body = Problem, description = "Invalid fields, or the issuer's discovery document cannot be fetched or read (the reason is named)"),
        (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_provider(
    State(state): State<AppState>,
    Auth(actor): Auth,
    body: ApiJson<CreateProvider>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let input = ProviderInput {
        name: Some(b.name),
        issuer: Some(b.issuer),
        client_id: Some(b.client_id),
        client_secret: Some(b.client_secret),
        allowed_domains: Some(b.allowed_domains),
        role_mapping: Some(b.role_mapping),
        groups_claim: b.groups_claim,
    };
    let view = state.desk.create_sso_provider(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[utoipa::path(get, path = "/api/v1/sso/providers", tag = "sso",
    responses((status = 200, body = [ProviderView]), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn list_providers(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<ProviderView>>, ApiError> {
    Ok(Json(state.desk.list_sso_providers(&actor).await?))
}

#[utoipa::path(get, path = "/api/v1/sso/providers/{id}", tag = "sso",
    params(("id" = Uuid, Path, description = "Provider id")),
    responses((status = 200, body = ProviderView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_provider(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<ProviderView>, ApiError> {
    Ok(Json(state.desk.get_sso_provider(&actor, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchProvider {
    pub name: Option<String>,
    /// A new issuer is checked like a new provider's.
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub allowed_domains: Option<Vec<String>>,
    /// Replaces the mapping; `{}` stops role synchronisation.
    pub role_mapping: Option<BTreeMap<String, String>>,
    pub groups_claim: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/sso/providers/{id}", tag = "sso", request_body = PatchProvider,
    params(("id" = Uuid, Path, description = "Provider id")),
    responses((status = 200, body = ProviderView), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn update_provider(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    body: ApiJson<PatchProvider>,
) -> Result<Json<ProviderView>, ApiError> {
    let b = body.value;
    let input = ProviderInput {
        name: b.name,
        issuer: b.issuer,
        client_id: b.client_id,
        client_secret: b.client_secret,
        allowed_domains: b.allowed_domains,
        role_mapping: b.role_mapping,
        groups_claim: b.groups_claim,
    };
    Ok(Json(
        state.desk.update_sso_provider(&actor, id, input).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/sso/providers/{id}", tag = "sso",
    params(("id" = Uuid, Path, description = "Provider id")),
    responses((status = 204, description = "Removed; the people it linked stay"), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_provider(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.desk.delete_sso_provider(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/sso/settings", tag = "sso",
    responses((status = 200, body = SsoSettingsView), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn settings(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<SsoSettingsView>, ApiError> {
    Ok(Json(state.desk.sso_settings(&actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSettings {
    /// `false`: password sign-in is refused except for the break-glass admins.
    pub local_passwords: Option<bool>,
    /// Admins (ids or emails) who keep password sign-in; replaces the list.
    pub break_glass: Option<Vec<String>>,
}

#[utoipa::path(patch, path = "/api/v1/sso/settings", tag = "sso", request_body = PatchSettings,
    responses((status = 200, body = SsoSettingsView), (status = 422, body = Problem, description = "Passwords off without a provider or a break-glass admin")),
    security(("bearer" = [])))]
pub async fn update_settings(
    State(state): State<AppState>,
    Auth(actor): Auth,
    body: ApiJson<PatchSettings>,
) -> Result<Json<SsoSettingsView>, ApiError> {
    let b = body.value;
    Ok(Json(exec_use_case!(state, |desk, work| desk
        .update_sso_settings(
            work,
            &actor,
            b.local_passwords,
            b.break_glass
        ))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRequest {
    /// The provider's id (`GET /api/v1/sso/providers`).
    pub provider: Uuid,
    /// An ID token that provider issued to its client id.
    pub id_token: String,
}

#[utoipa::path(post, path = "/api/v1/auth/oidc/token", tag = "auth", request_body = ExchangeRequest,
    responses((status = 200, body = Session, description = "The same tokens as a password sign-in"),
        (status = 401, body = Problem, description = "The token does not verify (signature, issuer, audience, expiry), the email is not verified or its domain not allowed, or the person is disabled")))]
pub async fn exchange(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    body: ApiJson<ExchangeRequest>,
) -> Result<Json<Session>, ApiError> {
    let b = body.value;
    match state
        .desk
        .sso_exchange(b.provider, &b.id_token, &addr.ip().to_string())
        .await?
    {
        Ok(session) => Ok(Json(session)),
        Err(refusal) => Err(ApiError::Unauthorized(refusal.0)),
    }
}
