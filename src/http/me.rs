//! `/api/v1/me…`: the signed-in person's profile, password, two-factor
//! authentication and chat-link codes.

use axum::{
    extract::State,
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{respond, ApiJson, Auth, AuthEnrolling},
    run_use_case, AppState,
};
use crate::desk::{
    auth::{MfaEnrolment, RecoveryCodes},
    identity::{LinkCode, ProfileChanges},
    views::PersonView,
    Intake,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me).patch(update_me))
        .route("/me/password", post(change_password))
        .route("/me/mfa/totp", post(begin_mfa))
        .route("/me/mfa/totp/confirm", post(confirm_mfa))
        .route("/me/mfa/disable", post(disable_mfa))
        .route("/me/link-codes", post(create_link_code))
}

#[utoipa::path(get, path = "/api/v1/me", tag = "me", responses((status = 200, body = PersonView)), security(("bearer" = [])))]
pub async fn me(
    State(state): State<AppState>,
    AuthEnrolling(actor): AuthEnrolling,
) -> Result<Json<PersonView>, ApiError> {
    Ok(Json(state.desk.me(&actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    pub name: Option<String>,
    /// IANA time zone, e.g. `Europe/Paris`.
    pub time_zone: Option<String>,
    /// Language tag, e.g. `en`, `fr-CA`.
    pub locale: Option<String>,
    /// Notification preferences, e.g. `{"channels": {"sms": false},
    /// "events": {"ticket.commented": ["email", "in_app"]},
    /// "quiet_hours": {"start": "22:00", "end": "07:00"}}`.
    #[schema(value_type = Option<Object>)]
    pub notification_prefs: Option<serde_json::Map<String, serde_json::Value>>,
    /// E.164 number for SMS notifications, e.g. `+4915112345678`; empty removes it.
    pub phone: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/me", tag = "me", request_body = UpdateMe,
    responses((status = 200, body = PersonView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn update_me(
    State(state): State<AppState>,
    Auth(actor): Auth,
    body: ApiJson<UpdateMe>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let changes = ProfileChanges {
        name: b.name,
        time_zone: b.time_zone,
        locale: b.locale,
        notification_prefs: b.notification_prefs,
        phone: b.phone,
    };
    let outcome = run_use_case!(state, None::<Intake>, |desk, work| desk
        .update_profile(work, &actor, changes));
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", request_body = ChangePassword,
    responses((status = 204, description = "Changed; every session signed out"), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn change_password(
    State(state): State<AppState>,
    AuthEnrolling(actor): AuthEnrolling,
    body: ApiJson<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    let ChangePassword {
        current_password,
        new_password,
    } = body.value;
    exec_use_case!(state, |desk, work| desk.change_password(
        work,
        &actor,
        current_password,
        new_password
    ));
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/me/mfa/totp", tag = "me",
    responses((status = 201, body = MfaEnrolment), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn begin_mfa(
    State(state): State<AppState>,
    AuthEnrolling(actor): AuthEnrolling,
) -> Result<Response, ApiError> {
    let outcome = run_use_case!(state, None::<Intake>, |desk, work| desk
        .begin_mfa(work, &actor));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaCode {
    /// Six digits from the authenticator app.
    pub code: String,
}

#[utoipa::path(post, path = "/api/v1/me/mfa/totp/confirm", tag = "me", request_body = MfaCode,
    responses((status = 200, body = RecoveryCodes), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn confirm_mfa(
    State(state): State<AppState>,
    AuthEnrolling(actor): AuthEnrolling,
    body: ApiJson<MfaCode>,
) -> Result<Response, ApiError> {
    let code = body.value.code;
    let outcome = run_use_case!(state, None::<Intake>, |desk, work| desk
        .confirm_mfa(work, &actor, &code));
    Ok(respond(StatusCode::OK, outcome))
}

#[utoipa::path(post, path = "/api/v1/me/mfa/disable", tag = "me", request_body = MfaCode,
    responses((status = 204), (status = 403, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn disable_mfa(
    State(state): State<AppState>,
    Auth(actor): Auth,
    body: ApiJson<MfaCode>,
) -> Result<StatusCode, ApiError> {
    let code = body.value.code;
    exec_use_case!(state, |desk, work| desk.disable_mfa(work, &actor, &code));
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/me/link-codes", tag = "me",
    responses((status = 201, body = LinkCode)), security(("bearer" = [])))]
pub async fn create_link_code(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Response, ApiError> {
    let outcome = run_use_case!(state, None::<Intake>, |desk, work| desk
        .create_link_code(work, &actor));
    Ok(respond(StatusCode::CREATED, outcome))
}
