//! A fake OAuth 2.0 provider on loopback: a token endpoint that trades
//! refresh tokens for access tokens (`grant_type=refresh_token`, optionally
//! rotating the refresh token) and an RFC 7662 introspection endpoint that
//! Dovecot's oauth2 passdb (or the SMTP sink) asks whether a token is good.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{extract::State, http::StatusCode, routing::post, Form, Json, Router};
use serde_json::{json, Value};

pub const CLIENT_ID: &str = "switchboard-test";
pub const CLIENT_SECRET: &str = "oauth-client-secret";
pub const REFRESH_TOKEN: &str = "rt-0";

#[derive(Default)]
struct Inner {
    refresh_tokens: HashSet<String>,
    active: HashSet<String>,
    /// Refresh tokens presented, in order.
    presented: Vec<String>,
    issued: usize,
    rotate: bool,
    failing: bool,
    expires_in: u64,
    username: String,
}

#[derive(Clone)]
pub struct FakeOAuth {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl FakeOAuth {
    /// Accepts `REFRESH_TOKEN`; tokens introspect as `username`.
    pub async fn start(username: &str) -> FakeOAuth {
        let inner = Arc::new(Mutex::new(Inner {
            refresh_tokens: HashSet::from([REFRESH_TOKEN.to_string()]),
            expires_in: 3600,
            username: username.to_string(),
            ..Inner::default()
        }));
        let router = Router::new()
            .route("/token", post(token))
            .route("/introspect", post(introspect))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind fake OAuth");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        FakeOAuth { addr, inner }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("lock")
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    pub fn introspection_url(&self) -> String {
        format!("http://{}/introspect", self.addr)
    }

    /// The settings for `email.imap_oauth` / `email.smtp_oauth`.
    pub fn config(&self) -> switchboard::config::OAuthConfig {
        switchboard::config::OAuthConfig {
            token_url: self.token_url(),
            client_id: CLIENT_ID.into(),
            client_secret: switchboard::config::Secret::new(CLIENT_SECRET),
            refresh_token: switchboard::config::Secret::new(REFRESH_TOKEN),
            scope: "mail".into(),
        }
    }

    /// Each refresh answers a new refresh token and retires the old one.
    pub fn rotate_refresh_tokens(&self) {
        self.lock().rotate = true;
    }

    pub fn set_expires_in(&self, seconds: u64) {
        self.lock().expires_in = seconds;
    }

    /// The token endpoint answers 400 invalid_grant from now on.
    pub fn set_failing(&self, failing: bool) {
        self.lock().failing = failing;
    }

    /// Every access token issued so far stops working.
    pub fn revoke_access_tokens(&self) {
        self.lock().active.clear();
    }

    pub fn is_active(&self, token: &str) -> bool {
        self.lock().active.contains(token)
    }

    /// Refresh tokens presented at the token endpoint, in order.
    pub fn presented(&self) -> Vec<String> {
        self.lock().presented.clone()
    }
}

async fn token(
    State(inner): State<Arc<Mutex<Inner>>>,
    Form(form): Form<Vec<(String, String)>>,
) -> (StatusCode, Json<Value>) {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut inner = inner.lock().expect("lock");
    let refresh = field("refresh_token");
    inner.presented.push(refresh.clone());
    if field("grant_type") != "refresh_token"
        || field("client_id") != CLIENT_ID
        || field("client_secret") != CLIENT_SECRET
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        );
    }
    if inner.failing || !inner.refresh_tokens.contains(&refresh) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant", "error_description": "refresh token revoked" })),
        );
    }
    inner.issued += 1;
    let access = format!("at-{}", inner.issued);
    inner.active.insert(access.clone());
    let mut answer =
        json!({ "access_token": access, "token_type": "Bearer", "expires_in": inner.expires_in });
    if inner.rotate {
        let next = format!("rt-{}", inner.issued);
        inner.refresh_tokens.remove(&refresh);
        inner.refresh_tokens.insert(next.clone());
        answer["refresh_token"] = json!(next);
    }
    (StatusCode::OK, Json(answer))
}

async fn introspect(
    State(inner): State<Arc<Mutex<Inner>>>,
    Form(form): Form<Vec<(String, String)>>,
) -> Json<Value> {
    let token = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let inner = inner.lock().expect("lock");
    if inner.active.contains(&token) {
        Json(json!({ "active": true, "username": inner.username }))
    } else {
        Json(json!({ "active": false }))
    }
}
