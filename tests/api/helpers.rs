//! `spawn_app()`: the real router on a random port against a fresh Postgres
//! database, with the outbox dispatcher and timer scheduler stepped by the
//! test; plus a fake webhook receiver that records what it gets.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use serde_json::{json, Value};
use switchboard::{
    app::Application,
    config::{Config, Secret},
    desk::Desk,
    workers::{dispatcher::Dispatcher, scheduler::Scheduler},
};
use tokio::sync::OnceCell;

use crate::support::postgres;

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// A migrated database to copy from: migrations run once per test process.
async fn template_url() -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let url = postgres::create_database(None).await;
            let db = switchboard::store::Db::connect(&url, 2, Duration::from_secs(10))
                .await
                .expect("connect template");
            db.migrate().await.expect("migrate template");
            db.close().await;
            url
        })
        .await
}

/// A fresh, migrated Postgres database for one test.
pub async fn fresh_database() -> String {
    let template = template_url().await;
    postgres::create_database(Some(template)).await
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// Admin token of the `default` organization (the bootstrap token).
    pub token: String,
    pub desk: Desk,
    pub dispatcher: Dispatcher,
    pub scheduler: Scheduler,
    pub config: Config,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _data_dir: tempfile::TempDir,
}

pub fn test_config(database_url: &str, data_dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.database.url = Secret::new(database_url);
    config.database.max_connections = 10;
    config.storage.data_dir = data_dir.to_path_buf();
    config.outbox.initial_backoff_secs = 0.05;
    config.outbox.max_backoff_secs = 0.2;
    config.outbox.max_attempts = 4;
    config.outbox.poll_interval_ms = 50;
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the daemon on a fresh Postgres database; `adjust` may change the
/// configuration first. Workers are stepped by the test, not run.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let url = fresh_database().await;
    spawn_on(&url, false, adjust).await
}

pub async fn spawn_on(
    database_url: &str,
    run_workers: bool,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(database_url, data_dir.path());
    adjust(&mut config);
    let app = Application::build(config.clone(), run_workers)
        .await
        .expect("app builds");
    let addr = app.local_addr();
    let desk = app.desk().clone();
    // An earlier start (e.g. `token create`) may have taken the bootstrap token.
    let token = match app.bootstrap_token.clone() {
        Some(token) => token,
        None => desk
            .create_token("default", "admin", "test")
            .await
            .expect("admin token"),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        client: reqwest::Client::new(),
        token,
        dispatcher: Dispatcher::from_config(desk.clone(), &config).expect("dispatcher"),
        scheduler: Scheduler::new(desk.clone(), Duration::from_millis(50)),
        desk,
        config,
        stop: Some(stop),
        server: Some(server),
        _data_dir: data_dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    /// GETs `path` and returns its JSON body, whatever the status.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str, token: &str) -> T {
        self.get(path, token).await.json().await.expect("JSON body")
    }

    /// Creates a ticket as the admin and returns its JSON (asserting 201).
    /// An admin token of another organization, created for the test.
    pub async fn admin_of_new_org(&self, slug: &str) -> String {
        self.desk.ensure_org(slug).await.expect("organization");
        self.desk
            .create_token(slug, "admin", &format!("{slug}-admin"))
            .await
            .expect("admin token")
    }

    pub async fn create_ticket(&self, kind: &str, title: &str) -> Value {
        let response = self
            .post(
                "/api/v1/tickets",
                &self.token,
                &json!({ "kind": kind, "title": title }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("ticket json")
    }

    pub async fn transition(&self, number: &str, to: &str) -> reqwest::Response {
        self.post(
            &format!("/api/v1/tickets/{number}/transitions"),
            &self.token,
            &json!({ "to": to }),
        )
        .await
    }

    /// Any method with an optional JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        request.send().await.expect("request sent")
    }

    /// Creates a person with roles and returns (person json, token acting as them).
    pub async fn person_with_token(
        &self,
        name: &str,
        email: &str,
        roles: &[&str],
    ) -> (Value, String) {
        let response = self
            .post(
                "/api/v1/people",
                &self.token,
                &json!({ "name": name, "email": email, "roles": roles }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let person: Value = response.json().await.expect("person json");
        let id = person["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("person id");
        let token = self
            .desk
            .create_token_for_person("default", id, roles[0], "test")
            .await
            .expect("token for person");
        (person, token)
    }

    /// The token in the newest pending email to `to` (a link `…?token=…`).
    pub async fn emailed_token(&self, to: &str) -> String {
        let outbox = self.outbox("pending").await;
        let email = outbox
            .iter()
            .find(|m| m["channel"] == "email" && m["target"] == to)
            .unwrap_or_else(|| panic!("an email to {to} is waiting in the outbox: {outbox:?}"));
        let text = email["payload"]["text"].as_str().expect("email text");
        let start = text.find("token=").expect("a link with a token") + "token=".len();
        text[start..]
            .split_whitespace()
            .next()
            .expect("token")
            .to_string()
    }

    /// Subscribes a webhook receiver to every event; returns the secret.
    pub async fn subscribe(&self, url: &str) -> String {
        let response = self
            .post("/api/v1/webhooks", &self.token, &json!({ "url": url }))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("webhook json");
        body["secret"]
            .as_str()
            .expect("secret shown once")
            .to_string()
    }

    pub async fn outbox(&self, state: &str) -> Vec<Value> {
        let response = self
            .get(&format!("/api/v1/outbox?state={state}"), &self.token)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("outbox json")
    }

    /// Stops the daemon gracefully and returns what `run_until_stopped` did.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(handle) => handle.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

/// One request the fake receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The status the fake answered.
    pub status: u16,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A scripted answer: status and extra headers.
type Scripted = (u16, Vec<(&'static str, String)>);

/// How the fake answers: scripted responses first, then `200 OK`.
#[derive(Clone, Default)]
pub struct Receiver {
    pub received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Scripted>>>,
    delay: Arc<Mutex<Duration>>,
    always: Arc<Mutex<Option<u16>>>,
    /// Requests that have arrived, counted before any delay.
    pub arrived: Arc<std::sync::atomic::AtomicUsize>,
}

impl Receiver {
    /// Answers the next request with `status` and `headers`.
    pub fn then(&self, status: u16, headers: &[(&'static str, &str)]) -> &Self {
        let headers = headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
        self.script
            .lock()
            .expect("lock")
            .push_back((status, headers));
        self
    }

    /// Answers every request with `status` from now on.
    pub fn always(&self, status: u16) {
        *self.always.lock().expect("lock") = Some(status);
    }

    pub fn delay(&self, d: Duration) {
        *self.delay.lock().expect("lock") = d;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Serves on `addr` (port 0 for any) until the test ends.
    pub async fn serve(&self, addr: SocketAddr) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind receiver");
        let bound = listener.local_addr().expect("addr");
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        bound
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    receiver
        .arrived
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let delay = *receiver.delay.lock().expect("lock");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let scripted = receiver.script.lock().expect("lock").pop_front();
    let (status, extra) = scripted.unwrap_or_else(|| {
        (
            (*receiver.always.lock().expect("lock")).unwrap_or(200),
            Vec::new(),
        )
    });
    receiver.received.lock().expect("lock").push(Received {
        headers,
        body,
        status,
    });
    let mut response = StatusCode::from_u16(status)
        .unwrap_or(StatusCode::OK)
        .into_response();
    for (k, v) in extra {
        if let Ok(v) = v.parse() {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

/// Repeats `step` until `done` holds or `within` passes (for time-driven behaviour).
pub async fn eventually<F, Fut>(within: Duration, mut step: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if step().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The JSON body of a response that must have `expected` status.
/// The fields a problem+json's `errors` name, in order.
pub fn error_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect()
}

pub async fn expect_json(response: reqwest::Response, expected: StatusCode) -> Value {
    let status = response.status();
    let text = response.text().await.expect("response body");
    assert_eq!(status, expected, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}
