//! The console's static files, built into the binary: our stylesheet and
//! script, and htmx 2.0.11 (BSD 0-Clause, `assets/htmx-LICENSE`) vendored
//! from npm — no CDN, no Node step in the build.

use axum::{
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

use super::Console;

const APP_CSS: &str = include_str!("assets/app.css");
const CONSOLE_JS: &str = include_str!("assets/console.js");
const HTMX_JS: &str = include_str!("assets/htmx-2.0.11.min.js");

pub fn router() -> Router<Console> {
    Router::new()
        .route(
            "/console/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route(
            "/console/assets/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", CONSOLE_JS) }),
        )
        .route(
            "/console/assets/htmx.min.js",
            get(|| async { asset("text/javascript; charset=utf-8", HTMX_JS) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The files change only with the binary; an hour is a safe reuse.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
