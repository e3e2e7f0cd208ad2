//! HTTP: the axum router with the REST API under `/api/v1`, operations
//! endpoints (`/healthz`, `/readyz`, `/metrics`) and the OpenAPI document.
//! Handlers translate wire DTOs into desk calls; no business rules here.
//! The chat platforms' endpoints are their own routers, which `app` hands
//! in as [`Mounted`] routes; an admin-only one sits behind the API's
//! authentication here.
//!
//! May import `desk`, `store`, `domain`, `runtime`, `config` and
//! `metrics`; never `channels`, `workers` or `app` (`tests/tidy.rs`
//! checks `channels`).

mod access;
mod admin;
mod alerts;
mod answers;
mod approval_links;
mod approvals;
mod auth;
mod availability;
mod catalog;
mod changes;
mod cmdb;
mod email;
pub mod error;
mod escalation;
mod extract;
mod inbox;
mod integrations;
mod macros;
mod me;
mod ops;
mod problems;
mod reports;
mod rules;
mod schedules;
mod scim;
mod sla;
mod sso;
mod ticket_links;
mod ticket_time;
mod tickets;

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    middleware::{self, Next},
    response::IntoResponse,
    response::Response,
    Router,
};
use tower_http::{catch_panic::CatchPanicLayer, timeout::TimeoutLayer, trace::TraceLayer};
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use crate::{config::Config, desk::Desk, runtime::supervise::Health};

#[derive(Clone)]
pub struct AppState {
    pub desk: Desk,
    pub config: Arc<Config>,
    /// How the supervised workers fare (`/readyz` reports failing ones).
    pub workers: Health,
}

/// Routes of other layers, mounted beside the API (the chat platforms').
#[derive(Default)]
pub struct Mounted {
    /// Served as they are: the platform's own signature checks guard them.
    pub public: Router<AppState>,
    /// Only an organization's admins reach these, signed in as for the
    /// API; the handler finds their `Actor` in the request's extensions.
    pub admin: Router<AppState>,
}

/// Runs one desk use case in its transaction with the request's intake:
/// `run_use_case!(state, intake, |desk, work| desk.open_ticket(work, &actor, input))`.
macro_rules! run_use_case {
    ($state:expr, $intake:expr, |$desk:ident, $work:ident| $call:expr) => {{
        let $desk = $state.desk.clone();
        $state
            .desk
            .run($intake.as_ref(), move |$work| {
                Box::pin(async move { $call.await })
            })
            .await?
    }};
}
pub(crate) use run_use_case;

/// Runs one desk use case in its transaction, without an intake key, and
/// yields its result: `exec_use_case!(state, |desk, work| desk.delete_ci(work, &actor, id))`.
macro_rules! exec_use_case {
    ($state:expr, |$desk:ident, $work:ident| $call:expr) => {{
        let $desk = $state.desk.clone();
        $state
            .desk
            .execute(move |$work| Box::pin(async move { $call.await }))
            .await?
    }};
}
pub(crate) use exec_use_case;

pub fn router(state: AppState, mounted: Mounted) -> Router {
    let api = Router::new()
        .merge(tickets::router())
        .merge(ticket_links::router())
        .merge(admin::router())
        .merge(access::router())
        .merge(auth::router())
        .merge(sso::router())
        .merge(me::router())
        .merge(cmdb::router())
        .merge(catalog::router())
        .merge(approvals::router())
        .merge(changes::router())
        .merge(rules::router())
        .merge(problems::router())
        .merge(sla::router())
        .merge(escalation::router())
        .merge(schedules::router())
        .merge(email::router())
        .merge(inbox::router())
        .merge(reports::router())
        .merge(integrations::router())
        .merge(availability::router())
        .merge(ticket_time::router())
        .merge(macros::router())
        .merge(scim::roles::router())
        .route("/openapi.json", axum::routing::get(ops::openapi))
        .layer(middleware::from_fn(answers::problem_json))
        .layer(middleware::from_fn(answers::refuse_nul));
    // A route layer, so that only the admin routes' own paths ask for
    // credentials (anything else still answers 404); axum refuses one on
    // a router without routes.
    let admin = if mounted.admin.has_routes() {
        mounted
            .admin
            .route_layer(middleware::from_fn_with_state(state.clone(), admins_only))
    } else {
        mounted.admin
    };
    Router::new()
        .nest("/api/v1", api)
        .merge(ops::router())
        .merge(approval_links::router())
        .merge(alerts::router())
        .merge(scim::router())
        .merge(mounted.public)
        .merge(admin)
        // A route layer runs after routing, so the matched route is known.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(DefaultBodyLimit::max(state.config.server.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            state.config.request_timeout(),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::new())
        .with_state(state)
}

async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let response = next.run(request).await;
    state.desk.metrics.http_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Lets an admin of the caller's organization through, with their `Actor`
/// for the handler; answers like the API otherwise (401, 403).
async fn admins_only(
    extract::Auth(actor): extract::Auth,
    mut request: Request,
    next: Next,
) -> Response {
    if let Err(refused) = actor.require_admin() {
        return error::ApiError::from(refused).into_response();
    }
    request.extensions_mut().insert(actor);
    next.run(request).await
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("API token")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard API", description = "IT service management: tickets, teams, people, webhooks. Errors are RFC 9457 problem+json."),
    paths(
        tickets::create_ticket, tickets::list_tickets, tickets::get_ticket, tickets::update_ticket,
        tickets::transition_ticket, tickets::rate_ticket, tickets::assign_ticket, tickets::add_comment, tickets::list_comments,
        tickets::list_activity, tickets::list_attachments, tickets::upload_attachment, tickets::download_attachment,
        tickets::list_watchers, tickets::add_watcher, tickets::remove_watcher,
        ticket_links::create_link, ticket_links::list_links, ticket_links::remove_link, ticket_links::merge_ticket,
        auth::login, auth::login_mfa, auth::refresh, auth::logout, auth::register, auth::request_reset, auth::confirm_reset,
        me::me, me::update_me, me::change_password, me::begin_mfa, me::confirm_mfa, me::disable_mfa, me::create_link_code,
        access::invite, access::organization, access::update_organization, access::update_person,
        access::list_identities, access::link_identity, access::unlink_identity,
        access::list_tokens, access::create_token, access::revoke_token,
        admin::update_team,
        availability::availability, availability::set_skills, availability::set_working_hours,
        availability::add_absence, availability::end_absence,
        availability::list_skill_rules, availability::create_skill_rule, availability::delete_skill_rule,
        cmdb::list_classes, cmdb::create_class, cmdb::list_cis, cmdb::create_ci, cmdb::get_ci, cmdb::update_ci, cmdb::delete_ci,
        cmdb::history, cmdb::impact, cmdb::add_relationship, cmdb::remove_relationship, cmdb::bulk,
        cmdb::ticket_cis, cmdb::link_ci, cmdb::unlink_ci,
        catalog::catalog, catalog::create_category, catalog::create_item, catalog::get_item, catalog::update_item,
        catalog::order, catalog::get_request,
        approvals::list_policies, approvals::create_policy, approvals::get_policy, approvals::update_policy,
        approvals::my_approvals, approvals::get_approval, approvals::decide, approvals::ticket_approvals,
        approvals::request_approval, approvals::list_delegations, approvals::create_delegation,
        approvals::end_delegation, approvals::set_manager,
        changes::create_change, changes::risk_questionnaire, changes::get_change, changes::plan, changes::conflicts,
        changes::assess_risk, changes::review, changes::list_templates, changes::create_template,
        changes::list_freezes, changes::create_freeze, changes::list_tasks, changes::add_task, changes::update_task,
        rules::list_rules, rules::create_rule, rules::get_rule, rules::update_rule, rules::delete_rule,
        problems::get_problem, problems::update_problem, problems::problem_incidents, problems::link_incident,
        problems::unlink_incident, problems::resolve_problem,
        problems::search_known_errors, problems::create_known_error, problems::get_known_error, problems::update_known_error,
        problems::incident_problem, problems::suggestions, problems::ticket_known_errors, problems::link_known_error,
        problems::set_major, problems::set_escalation, problems::set_parent, problems::clear_parent, problems::children,
        admin::create_person, admin::list_people, admin::get_person,
        admin::create_team, admin::list_teams, admin::get_team, admin::add_member, admin::remove_member,
        admin::create_category, admin::list_categories,
        admin::create_webhook, admin::list_webhooks, admin::delete_webhook,
        admin::list_outbox, admin::retry_outbox,
        sla::list_calendars, sla::create_calendar, sla::get_calendar, sla::update_calendar, sla::delete_calendar,
        sla::list_policies, sla::create_policy, sla::get_policy, sla::update_policy, sla::delete_policy,
        sla::compliance, sla::ticket_sla,
        escalation::list_policies, escalation::create_policy, escalation::get_policy, escalation::update_policy,
        escalation::delete_policy, escalation::get_on_call, escalation::set_on_call,
        escalation::ticket_escalation, escalation::acknowledge,
        schedules::list_schedules, schedules::create_schedule, schedules::get_schedule,
        schedules::update_schedule, schedules::delete_schedule,
        email::list_quarantine,
        inbox::list_inbox, inbox::mark_read, inbox::read_all, inbox::get_defaults, inbox::set_defaults,
        reports::dashboard, reports::volume, reports::sla, reports::agents, reports::processes,
        integrations::create, integrations::list, integrations::get_one, integrations::update,
        integrations::disable, integrations::rotate, integrations::ticket_alerts, integrations::silence,
        ticket_time::log_time, ticket_time::list_time,
        macros::list_macros, macros::create_macro, macros::get_macro, macros::update_macro,
        macros::delete_macro, macros::apply_macro,
        scim::users::list, scim::users::create, scim::users::get_one, scim::users::replace, scim::users::patch, scim::users::delete,
        scim::groups::list, scim::groups::create, scim::groups::get_one, scim::groups::replace, scim::groups::patch, scim::groups::delete,
        scim::discovery::service_provider_config, scim::discovery::resource_types, scim::discovery::resource_type,
        scim::discovery::schemas, scim::discovery::schema, scim::roles::get_roles, scim::roles::set_roles,
        sso::create_provider, sso::list_providers, sso::get_provider, sso::update_provider, sso::delete_provider,
        sso::settings, sso::update_settings, sso::exchange,
        ops::healthz, ops::readyz, ops::metrics, ops::openapi,
    ),
    modifiers(&BearerAuth),
    tags((name = "tickets"), (name = "auth"), (name = "me"), (name = "access"), (name = "cmdb"), (name = "catalog"), (name = "approvals"), (name = "changes"), (name = "rules"), (name = "problems"), (name = "known_errors"), (name = "people"), (name = "teams"), (name = "categories"), (name = "webhooks"), (name = "outbox"), (name = "sla"), (name = "escalation"), (name = "schedules"), (name = "email"), (name = "reports"), (name = "integrations"), (name = "macros"), (name = "scim"), (name = "sso"), (name = "operations"))
)]
pub struct ApiDoc;
