//! `/api/v1/auth/…`: sign-in (password, then TOTP when enrolled), token
//! refresh and logout, registration from an invitation, password reset.
//! These exchange credentials, so they take no bearer token and no
//! `Idempotency-Key` (a replayed answer would hand out live tokens).

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    error::{ApiError, Problem},
    extract::ApiJson,
    AppState,
};
use crate::desk::auth::{LoginResult, Refusal, Session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/mfa", post(login_mfa))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/register", post(register))
        .route("/auth/password-reset", post(request_reset))
        .route("/auth/password-reset/confirm", post(confirm_reset))
}

fn client(ConnectInfo(addr): ConnectInfo<SocketAddr>) -> String {
    addr.ip().to_string()
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::BadCredentials => ApiError::Unauthorized("wrong email, password or code"),
        Refusal::PasswordsOff => ApiError::Unauthorized(
            "this organization signs in through single sign-on; passwords are off",
        ),
        Refusal::LockedOut { until } => ApiError::TooManyRequests {
            detail: "too many failed attempts; sign-in is locked for a while".into(),
            retry_after_secs: (until - chrono::Utc::now()).num_seconds().max(1),
        },
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Organization slug, when the same email has accounts in several.
    pub organization: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResult), (status = 401, body = Problem), (status = 429, body = Problem, description = "Locked out; see Retry-After")))]
pub async fn login(
    State(state): State<AppState>,
    addr: ConnectInfo<SocketAddr>,
    body: ApiJson<LoginRequest>,
) -> Result<Json<LoginResult>, ApiError> {
    let b = body.value;
    let result = state
        .desk
        .login(
            &b.email,
            &b.password,
            b.organization.as_deref(),
            &client(addr),
        )
        .await?;
    result.map(Json).map_err(refused)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaRequest {
    /// From the login answer.
    pub mfa_token: String,
    /// Six digits from the authenticator app…
    pub code: Option<String>,
    /// …or one of the recovery codes.
    pub recovery_code: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/auth/mfa", tag = "auth", request_body = MfaRequest,
    responses((status = 200, body = Session), (status = 401, body = Problem), (status = 429, body = Problem)))]
pub async fn login_mfa(
    State(state): State<AppState>,
    addr: ConnectInfo<SocketAddr>,
    body: ApiJson<MfaRequest>,
) -> Result<Json<Session>, ApiError> {
    let b = body.value;
    let result = state
        .desk
        .login_mfa(b.mfa_token, b.code, b.recovery_code, &client(addr))
        .await?;
    result.map(Json).map_err(refused)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = Session), (status = 401, body = Problem, description = "Unknown, expired, revoked or reused (the session is then revoked)")))]
pub async fn refresh(
    State(state): State<AppState>,
    body: ApiJson<RefreshRequest>,
) -> Result<Json<Session>, ApiError> {
    state
        .desk
        .refresh(body.value.refresh_token)
        .await?
        .map(Json)
        .map_err(refused)
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "The session and its access tokens are revoked")))]
pub async fn logout(
    State(state): State<AppState>,
    body: ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    state.desk.logout(body.value.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The invitation token from the emailed link.
    pub token: String,
    /// 12 to 128 characters, not a common password.
    pub password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = Session), (status = 401, body = Problem, description = "Unknown, used or expired invitation"), (status = 422, body = Problem)))]
pub async fn register(
    State(state): State<AppState>,
    body: ApiJson<RegisterRequest>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let session = state.desk.register(b.token, b.password).await?;
    Ok((StatusCode::CREATED, Json(session)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202, description = "If the account exists, a reset link is on its way")))]
pub async fn request_reset(
    State(state): State<AppState>,
    body: ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    state.desk.request_password_reset(&body.value.email).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmResetRequest {
    pub token: String,
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ConfirmResetRequest,
    responses((status = 204, description = "Password set; every session signed out"), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    body: ApiJson<ConfirmResetRequest>,
) -> Result<StatusCode, ApiError> {
    let b = body.value;
    state.desk.reset_password(b.token, b.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}
