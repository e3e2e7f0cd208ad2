//! `/api/v1/…` access management: invitations, the organization's policy,
//! people's roles and state, linked identities, and API tokens.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    routing::{delete, get, post},
    Json, Router,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    error::{ApiError, Problem},
    exec_use_case,
    extract::{respond, ApiJson, Auth, IdempotencyKey},
    run_use_case, AppState,
};
use crate::desk::{
    auth::InvitationView,
    identity::{IdentityKey, IdentityView},
    people::PersonChanges,
    tokens::NewToken,
    views::{OrganizationView, PersonView, TokenView},
    Intake,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/invitations", post(invite))
        .route(
            "/organization",
            get(organization).patch(update_organization),
        )
        .route(
            "/people/{id}/identities",
            get(list_identities).post(link_identity),
        )
        .route(
            "/people/{id}/identities/{identity}",
            delete(unlink_identity),
        )
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub email: String,
    pub name: String,
    /// Any of `requester`, `agent`, `approver`, `manager`, `admin`.
    pub roles: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/invitations", tag = "access", request_body = InviteRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = InvitationView, description = "Invitation emailed (through the outbox)"), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn invite(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<InviteRequest>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/invitations",
        &body.digest,
        StatusCode::CREATED,
    );
    let InviteRequest { email, name, roles } = body.value;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .invite(work, &actor, &email, &name, &roles));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(get, path = "/api/v1/organization", tag = "access", responses((status = 200, body = OrganizationView)), security(("bearer" = [])))]
pub async fn organization(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<OrganizationView>, ApiError> {
    Ok(Json(state.desk.organization(&actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    /// Require two-factor authentication of every local account.
    pub mfa_required: Option<bool>,
    /// The IANA time zone reports cut days in (DST-exact), e.g. `Europe/Berlin`.
    pub time_zone: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/organization", tag = "access", request_body = UpdateOrganization,
    responses((status = 200, body = OrganizationView), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn update_organization(
    State(state): State<AppState>,
    Auth(actor): Auth,
    body: ApiJson<UpdateOrganization>,
) -> Result<Response, ApiError> {
    let UpdateOrganization {
        mfa_required,
        time_zone,
    } = body.value;
    let outcome = run_use_case!(state, None::<Intake>, |desk, work| desk
        .update_organization(work, &actor, mfa_required, time_zone));
    Ok(respond(StatusCode::OK, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePerson {
    pub name: Option<String>,
    pub roles: Option<Vec<String>>,
    /// A disabled person cannot sign in; their sessions end at once.
    pub disabled: Option<bool>,
}

#[utoipa::path(patch, path = "/api/v1/people/{id}", tag = "people", request_body = UpdatePerson,
    params(("id" = Uuid, Path, description = "Person id")),
    responses((status = 200, body = PersonView), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn update_person(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    body: ApiJson<UpdatePerson>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let changes = PersonChanges {
        name: b.name,
        roles: b.roles,
        disabled: b.disabled,
    };
    let outcome = run_use_case!(state, None::<Intake>, |desk, work| desk
        .update_person(work, &actor, id, changes));
    Ok(respond(StatusCode::OK, outcome))
}

#[utoipa::path(get, path = "/api/v1/people/{id}/identities", tag = "people", params(("id" = Uuid, Path, description = "Person id")),
    responses((status = 200, body = [IdentityView]), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn list_identities(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<IdentityView>>, ApiError> {
    Ok(Json(state.desk.list_identities(&actor, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIdentity {
    /// `slack`, `discord` or `email`.
    pub kind: String,
    /// Slack team id or Discord guild id; omit for email.
    #[serde(default)]
    pub namespace: String,
    /// Slack/Discord user id, or the email address.
    pub external_id: String,
}

#[utoipa::path(post, path = "/api/v1/people/{id}/identities", tag = "people", request_body = LinkIdentity,
    params(("id" = Uuid, Path, description = "Person id"), ("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = IdentityView), (status = 422, body = Problem)), security(("bearer" = [])))]
pub async fn link_identity(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    Path(id): Path<Uuid>,
    body: ApiJson<LinkIdentity>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        &format!("POST /api/v1/people/{id}/identities"),
        &body.digest,
        StatusCode::CREATED,
    );
    let b = body.value;
    let key = IdentityKey::parse(&b.kind, &b.namespace, &b.external_id)?;
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .link_identity(work, &actor, id, key));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(delete, path = "/api/v1/people/{id}/identities/{identity}", tag = "people",
    params(("id" = Uuid, Path, description = "Person id"), ("identity" = Uuid, Path, description = "Identity id")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn unlink_identity(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((id, identity)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk
        .unlink_identity(work, &actor, id, identity));
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "access",
    responses((status = 200, body = [TokenView], description = "Admins see the organization's tokens, others their own")), security(("bearer" = [])))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(state.desk.list_api_tokens(&actor).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// Role the token acts with (default: your first role). Admins may name
    /// a role they do not hold: the token then acts as a service account.
    /// `scim` (admins): a token that may call only SCIM (`/scim/v2`).
    pub role: Option<String>,
    /// `read_write` (default) or `read` (GET only).
    pub scope: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "access", request_body = CreateToken,
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeat-safe key")),
    responses((status = 201, body = TokenView, description = "The `token` secret is shown only here"), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    Auth(actor): Auth,
    idempotency: IdempotencyKey,
    body: ApiJson<CreateToken>,
) -> Result<Response, ApiError> {
    let intake = idempotency.intake(
        &actor,
        "POST /api/v1/tokens",
        &body.digest,
        StatusCode::CREATED,
    );
    let b = body.value;
    let input = NewToken {
        name: b.name,
        role: b.role,
        scope: b.scope,
        expires_at: b.expires_at,
    };
    let outcome = run_use_case!(state, intake, |desk, work| desk
        .create_api_token(work, &actor, input));
    Ok(respond(StatusCode::CREATED, outcome))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "access", params(("id" = Uuid, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    exec_use_case!(state, |desk, work| desk.revoke_api_token(work, &actor, id));
    Ok(StatusCode::NO_CONTENT)
}
