//! The web console: the service desk in the browser, served by the same
//! binary under `/console/` (with `/` redirecting there and the two links
//! the desk mails, `/reset-password` and `/accept-invitation`).
//! Server-rendered askama templates (`src/console/templates`), escaped by
//! default; every page works without JavaScript, and `htmx` plus a small
//! script of ours (vendored in `assets/`, no inline script) add live queue
//! updates and keyboard shortcuts.
//!
//! A layer like `http`: handlers read the session, call the same desk use
//! cases as the API and chat (so every permission is the desk's), and
//! render. No SQL and no business rule here.
//!
//! May import `desk`, `domain`, `config` and `runtime` (worker health);
//! never `store`, `http`,
//! `channels`, `workers`, `app` or `cli` (`tests/tidy.rs` checks).

mod admin;
mod admin_automation;
mod admin_catalog;
mod admin_people;
mod admin_specs;
mod admin_teams;
mod approvals;
mod assets;
mod auth;
mod changes;
mod cmdb;
mod dashboard;
mod error;
mod filters;
mod layout;
mod portal;
mod problems;
mod queue;
mod session;
mod ticket;
mod ticket_process;

use std::sync::Arc;

use axum::{
    extract::Request,
    http::{header, HeaderValue},
    middleware::{self, Next},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
    Router,
};

pub use error::PageError;

use crate::{config::Config, desk::Desk, runtime::supervise::Health};

/// What the console's handlers share.
#[derive(Clone)]
pub struct Console {
    pub desk: Desk,
    pub config: Arc<Config>,
    /// How the supervised workers fare (the admin page names failing ones).
    pub workers: Health,
    /// Cookies get `Secure` when the public URL is https.
    secure_cookies: bool,
}

impl Console {
    pub fn new(desk: Desk, config: Arc<Config>, workers: Health) -> Self {
        let secure_cookies = config
            .server
            .public_url
            .trim()
            .to_ascii_lowercase()
            .starts_with("https://");
        Self {
            desk,
            config,
            workers,
            secure_cookies,
        }
    }
}

/// The console's routes, with their own state, for `app` to mount.
pub fn router<S: Clone + Send + Sync + 'static>(console: Console) -> Router<S> {
    let pages = Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .merge(auth::router())
        .merge(queue::router())
        .merge(ticket::router())
        .merge(portal::router())
        .merge(approvals::router())
        .merge(dashboard::router())
        .merge(admin::router())
        .merge(admin_people::router())
        .merge(admin_teams::router())
        .merge(admin_specs::router())
        .merge(admin_catalog::router())
        .merge(admin_automation::router())
        .merge(problems::router())
        .merge(changes::router())
        .merge(cmdb::router())
        .layer(middleware::from_fn_with_state(
            console.clone(),
            session::layer,
        ));
    Router::new()
        .merge(pages)
        .merge(assets::router())
        .layer(middleware::from_fn(security_headers))
        .with_state(console)
}

/// Scripts only from this origin (no inline ones), no framing, no
/// sniffing, no referrer leaving the site.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Renders a page template.
fn render<T: askama::Template>(page: &T) -> Result<Response, PageError> {
    page.render()
        .map(|html| Html(html).into_response())
        .map_err(|e| PageError::Desk(anyhow::anyhow!("rendering a console page: {e}").into()))
}

/// Renders a page template with a status other than 200 (a form shown
/// again with its errors).
fn render_status<T: askama::Template>(
    status: axum::http::StatusCode,
    page: &T,
) -> Result<Response, PageError> {
    let mut response = render(page)?;
    *response.status_mut() = status;
    Ok(response)
}
