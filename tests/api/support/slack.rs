//! A fake Slack: the Web API methods the daemon calls (recorded, answered
//! like Slack does, with scripted 429s), a `response_url` sink, and signed
//! requests to the daemon in Slack's wire formats, sent through one
//! `TestApp` method per endpoint.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde_json::{json, Value};

use crate::{
    helpers::{eventually, spawn_app_with, TestApp},
    support::clock::now,
};

pub const SECRET: &str = "test-signing-secret";
pub const TEAM: &str = "T0TEST";

/// One recorded Web API call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    /// The bearer token it came with.
    pub token: Option<String>,
}

#[derive(Clone, Default)]
pub struct FakeSlack {
    calls: Arc<Mutex<Vec<Call>>>,
    /// Scripted 429s: Retry-After seconds, consumed one per call.
    limited: Arc<Mutex<VecDeque<(String, u64)>>>,
    /// Methods whose next call is carried out but answered 500.
    lost: Arc<Mutex<Vec<String>>>,
    next_ts: Arc<Mutex<u64>>,
    /// Channel messages by (channel, ts), for `conversations.history`.
    messages: Arc<Mutex<Vec<(String, Value)>>>,
    /// `users.info` answers by user id.
    users: Arc<Mutex<Vec<(String, Value)>>>,
    /// Files served at `/files/{name}`; the token they need.
    files: Arc<Mutex<Vec<NamedFile>>>,
    /// Bytes posted to upload URLs, by file id.
    uploads: Arc<Mutex<Vec<NamedFile>>>,
    socket: super::ws::FakeWs,
    /// Where `apps.connections.open` sends the daemon, once started.
    socket_url: Arc<Mutex<Option<String>>>,
}

/// A file's name and bytes.
type NamedFile = (String, Vec<u8>);

/// The daemon with Slack switched on against a fresh fake; also returns the
/// fake's API base URL (where `response_url`s and files point).
pub async fn spawn_slack_app() -> (TestApp, FakeSlack, String) {
    spawn_slack_app_with(|_| {}).await
}

/// [`spawn_slack_app`] with more configuration.
pub async fn spawn_slack_app_with(
    more: impl FnOnce(&mut switchboard::config::Config) + Send + 'static,
) -> (TestApp, FakeSlack, String) {
    let fake = FakeSlack::default();
    let base = fake.start().await;
    let api = base.clone();
    let app = spawn_app_with(move |c| {
        c.slack.signing_secret = switchboard::config::Secret::new(SECRET);
        c.slack.bot_token = switchboard::config::Secret::new("xoxb-test");
        c.slack.api_base_url = api;
        c.slack.max_calls_per_second = 1000;
        more(c);
    })
    .await;
    (app, fake, base)
}

/// Slack's endpoints on the daemon, called as Slack calls them: signed now.
impl TestApp {
    /// POSTs `body` to `path` signed as Slack would at `at` (Unix seconds).
    pub async fn post_slack_signed(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
        at: i64,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body.to_string());
        for (name, value) in signed(at, body) {
            request = request.header(name, value);
        }
        request.send().await.expect("request sent")
    }

    /// An Events API delivery (see [`event`]).
    pub async fn post_slack_event(&self, body: &str) -> reqwest::Response {
        self.post_slack_signed("/slack/events", "application/json", body, now())
            .await
    }

    /// An interaction payload, form-encoded as Slack posts it.
    pub async fn post_slack_interaction(&self, payload: Value) -> reqwest::Response {
        self.post_slack_signed(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            &interaction(payload),
            now(),
        )
        .await
    }

    /// A slash command's form body.
    pub async fn post_slack_command(&self, form: &str) -> reqwest::Response {
        self.post_slack_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            form,
            now(),
        )
        .await
    }
}

impl FakeSlack {
    /// Serves on a random loopback port; returns the API base URL.
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind fake Slack");
        let addr = listener.local_addr().expect("addr");
        let router = Router::new()
            .route("/api/{method}", post(api))
            .route("/api/response/{id}", post(respond))
            .route("/api/files/{name}", axum::routing::get(file))
            .route("/api/upload/{id}", post(upload))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}/api")
    }

    /// The next call of `method` is answered `429 Retry-After: secs`.
    pub fn rate_limit_next(&self, method: &str, secs: u64) {
        self.limited
            .lock()
            .expect("lock")
            .push_back((method.to_string(), secs));
    }

    /// Starts a fake Socket Mode server; `apps.connections.open` points to it.
    /// Each connection gets `hello`; frames sent by the daemon are recorded.
    pub async fn start_socket(&self) {
        let addr = self
            .socket
            .start(json!({ "type": "hello", "num_connections": 1 }), None)
            .await;
        *self.socket_url.lock().expect("lock") = Some(format!("ws://{addr}/link/"));
    }

    /// Sends a frame on the current Socket Mode connection.
    pub fn socket_send(&self, frame: Value) {
        self.socket.send(frame);
    }

    /// Pushes a frame on Socket Mode connection `n` (1 is the first).
    pub fn socket_send_to(&self, n: usize, frame: Value) {
        self.socket.send_to(n, frame);
    }

    /// The newest Socket Mode connection goes silent (see `FakeWs::hang`).
    pub fn socket_hang(&self) {
        self.socket.hang();
    }

    pub fn socket_connections(&self) -> usize {
        self.socket.connections()
    }

    /// Frames the daemon sent over Socket Mode.
    pub fn socket_received(&self) -> Vec<Value> {
        self.socket.received()
    }

    /// The next call of `method` is carried out but answered 500, as when
    /// Slack's answer is lost after it posted.
    pub fn lose_next_answer(&self, method: &str) {
        self.lost.lock().expect("lock").push(method.to_string());
    }

    /// The `ts` Slack gave each message posted to `channel`, oldest first.
    pub fn posted_ts(&self, channel: &str) -> Vec<String> {
        self.messages
            .lock()
            .expect("lock")
            .iter()
            .filter(|(c, m)| c == channel && m["bot_id"] == "BTEST")
            .filter_map(|(_, m)| m["ts"].as_str().map(String::from))
            .collect()
    }

    /// A message in a channel, as `conversations.history` will return it.
    pub fn add_message(&self, channel: &str, message: Value) {
        self.messages
            .lock()
            .expect("lock")
            .push((channel.to_string(), message));
    }

    /// A workspace member `users.info` knows.
    pub fn add_user(&self, id: &str, real_name: &str, email: &str) {
        self.users.lock().expect("lock").push((
            id.to_string(),
            json!({ "id": id, "name": real_name.to_lowercase(), "real_name": real_name,
                    "profile": { "real_name": real_name, "email": email } }),
        ));
    }

    /// A file downloadable (with the bot token) at `{base}/files/{name}`.
    pub fn add_file(&self, name: &str, bytes: &[u8]) {
        self.files
            .lock()
            .expect("lock")
            .push((name.to_string(), bytes.to_vec()));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("lock").clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .map(|c| c.body)
            .collect()
    }

    /// Bodies of every `chat.postMessage`, oldest first.
    /// The bytes uploaded for file `id` (from `files.getUploadURLExternal`).
    pub fn uploaded(&self, id: &str) -> Option<Vec<u8>> {
        let uploads = self.uploads.lock().expect("lock");
        uploads
            .iter()
            .find(|(f, _)| f == id)
            .map(|(_, b)| b.clone())
    }

    pub fn posted_messages(&self) -> Vec<Value> {
        self.calls_to("chat.postMessage")
    }

    /// The `chat.postMessage` bodies sent to `channel`.
    pub fn posted_to(&self, channel: &str) -> Vec<Value> {
        self.posted_messages()
            .into_iter()
            .filter(|p| p["channel"] == channel)
            .collect()
    }

    /// What the daemon sent to the `response_url` `{base}/response/{id}`.
    pub fn responses(&self, id: &str) -> Vec<Value> {
        self.calls_to(&format!("response/{id}"))
    }

    /// Waits (up to 5 s) for a first call of `method`: the daemon makes
    /// some calls only after it has answered Slack. False if none came.
    pub async fn called(&self, method: &str) -> bool {
        eventually(std::time::Duration::from_secs(5), || async {
            !self.calls_to(method).is_empty()
        })
        .await
    }

    /// [`FakeSlack::called`] for the `response_url` `{base}/response/{id}`.
    pub async fn responded(&self, id: &str) -> bool {
        self.called(&format!("response/{id}")).await
    }
}

/// An upload URL handed out by `files.getUploadURLExternal`.
async fn upload(
    State(fake): State<FakeSlack>,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> StatusCode {
    fake.uploads.lock().expect("lock").push((id, raw.to_vec()));
    StatusCode::OK
}

async fn file(
    State(fake): State<FakeSlack>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    fake.calls.lock().expect("lock").push(Call {
        method: format!("files/{name}"),
        body: json!({ "authorization": headers.get("authorization").and_then(|v| v.to_str().ok()) }),
        token: None,
    });
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer xoxb-test") {
        return StatusCode::FORBIDDEN.into_response();
    }
    let files = fake.files.lock().expect("lock").clone();
    match files.into_iter().find(|(n, _)| *n == name) {
        Some((_, bytes)) => bytes.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Slack's Web API takes JSON or form bodies; both are recorded as JSON.
fn parse_body(headers: &axum::http::HeaderMap, body: &[u8]) -> Value {
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form {
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        Value::Object(fields.into_iter().map(|(k, v)| (k, json!(v))).collect())
    } else {
        serde_json::from_slice(body).unwrap_or(Value::Null)
    }
}

async fn api(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    headers: axum::http::HeaderMap,
    raw: axum::body::Bytes,
) -> Response {
    let body = parse_body(&headers, &raw);
    fake.calls.lock().expect("lock").push(Call {
        method: method.clone(),
        body: body.clone(),
        token: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(String::from),
    });
    let limited = {
        let mut queue = fake.limited.lock().expect("lock");
        match queue.front() {
            Some((m, _)) if *m == method => queue.pop_front().map(|(_, secs)| secs),
            _ => None,
        }
    };
    if let Some(secs) = limited {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", secs.to_string())],
            Json(json!({ "ok": false, "error": "ratelimited" })),
        )
            .into_response();
    }
    let ts = {
        let mut n = fake.next_ts.lock().expect("lock");
        *n += 1;
        // Real time, as Slack's are: history lookups page by `oldest`.
        format!("{}.{:06}", chrono::Utc::now().timestamp(), *n)
    };
    let channel = body["channel"].as_str().unwrap_or_default().to_string();
    let response = match method.as_str() {
        "chat.postMessage" => {
            let mut message = json!({ "type": "message", "ts": ts, "text": body["text"],
                                      "bot_id": "BTEST" });
            for key in ["thread_ts", "metadata", "blocks"] {
                if !body[key].is_null() {
                    message[key] = body[key].clone();
                }
            }
            fake.add_message(&channel, message);
            Json(json!({ "ok": true, "channel": channel, "ts": ts })).into_response()
        }
        // The fake's direct-message channel with a user is the user's id.
        "conversations.open" => {
            Json(json!({ "ok": true, "channel": { "id": body["users"] } })).into_response()
        }
        "files.getUploadURLExternal" => {
            let host = headers
                .get("host")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let id = format!("F{}", ts.replace('.', ""));
            Json(json!({
                "ok": true, "file_id": id, "upload_url": format!("http://{host}/api/upload/{id}"),
            }))
            .into_response()
        }
        "files.completeUploadExternal" => {
            let uploads = fake.uploads.lock().expect("lock").clone();
            let all_uploaded = body["files"].as_array().is_some_and(|files| {
                files
                    .iter()
                    .all(|f| uploads.iter().any(|(id, _)| f["id"].as_str() == Some(id)))
            });
            if all_uploaded {
                Json(json!({ "ok": true, "files": body["files"] })).into_response()
            } else {
                Json(json!({ "ok": false, "error": "file_not_found" })).into_response()
            }
        }
        "chat.update" => {
            Json(json!({ "ok": true, "channel": channel, "ts": body["ts"] })).into_response()
        }
        "views.open" | "views.publish" => {
            Json(json!({ "ok": true, "view": { "id": "V1" } })).into_response()
        }
        "conversations.history" | "conversations.replies" => {
            let wanted = body["latest"].as_str().unwrap_or_default();
            let thread = body["ts"].as_str();
            let oldest = body["oldest"].as_str().unwrap_or("0");
            let all_metadata = body["include_all_metadata"] == "true";
            // A message's own `ts`, or — as Slack pages them — everything
            // since `oldest` in the channel or the thread; metadata only
            // when asked for.
            let in_place = |m: &Value| match thread {
                Some(ts) => m["ts"] == ts || m["thread_ts"] == ts,
                None => m["thread_ts"].is_null() || m["thread_ts"] == m["ts"],
            };
            let since = |m: &Value| {
                let ts = m["ts"].as_str().unwrap_or_default();
                ts.parse::<f64>().unwrap_or(0.0) >= oldest.parse::<f64>().unwrap_or(0.0)
            };
            let messages: Vec<Value> = fake
                .messages
                .lock()
                .expect("lock")
                .iter()
                .filter(|(c, m)| {
                    *c == channel
                        && if wanted.is_empty() {
                            in_place(m) && since(m)
                        } else {
                            m["ts"] == wanted
                        }
                })
                .map(|(_, m)| {
                    let mut m = m.clone();
                    if !all_metadata {
                        if let Some(o) = m.as_object_mut() {
                            o.remove("metadata");
                        }
                    }
                    m
                })
                .collect();
            Json(json!({ "ok": true, "messages": messages, "has_more": false })).into_response()
        }
        "chat.getPermalink" => {
            let message_ts = body["message_ts"]
                .as_str()
                .unwrap_or_default()
                .replace('.', "");
            Json(json!({ "ok": true, "channel": channel,
                         "permalink": format!("https://test.slack.com/archives/{channel}/p{message_ts}") }))
            .into_response()
        }
        "oauth.v2.access" => {
            let good = body["client_id"] == "C123"
                && body["client_secret"] == "oauth-secret"
                && body["code"] == "code-ok";
            if good {
                Json(
                    json!({ "ok": true, "access_token": "xoxb-other-workspace", "token_type": "bot",
                             "scope": "chat:write,commands", "bot_user_id": "UBOT2",
                             "app_id": "A0TEST", "team": { "id": "T0OTHER", "name": "Other Co" },
                             "enterprise": null, "is_enterprise_install": false }),
                )
                .into_response()
            } else {
                Json(json!({ "ok": false, "error": "invalid_code" })).into_response()
            }
        }
        "apps.connections.open" => {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
            let url = fake.socket_url.lock().expect("lock").clone();
            match (auth, url) {
                (Some("Bearer xapp-test"), Some(url)) => {
                    Json(json!({ "ok": true, "url": url })).into_response()
                }
                _ => Json(json!({ "ok": false, "error": "invalid_auth" })).into_response(),
            }
        }
        "users.info" => {
            let user = body["user"].as_str().unwrap_or_default();
            let users = fake.users.lock().expect("lock").clone();
            match users.into_iter().find(|(id, _)| id == user) {
                Some((_, u)) => Json(json!({ "ok": true, "user": u })).into_response(),
                None => Json(json!({ "ok": false, "error": "user_not_found" })).into_response(),
            }
        }
        _ => Json(json!({ "ok": false, "error": "unknown_method" })).into_response(),
    };
    let lost = {
        let mut lost = fake.lost.lock().expect("lock");
        let found = lost.iter().position(|m| *m == method);
        found.map(|i| lost.remove(i)).is_some()
    };
    if lost {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    response
}

async fn respond(
    State(fake): State<FakeSlack>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> StatusCode {
    fake.calls.lock().expect("lock").push(Call {
        method: format!("response/{id}"),
        body,
        token: None,
    });
    StatusCode::OK
}

/// Headers Slack signs a request with, for `body` at `timestamp`.
pub fn signed(timestamp: i64, body: &str) -> Vec<(&'static str, String)> {
    let ts = timestamp.to_string();
    vec![
        ("x-slack-request-timestamp", ts.clone()),
        (
            "x-slack-signature",
            switchboard::channels::slack::verify::sign(SECRET, &ts, body.as_bytes()),
        ),
    ]
}

/// An Events API envelope.
pub fn event(event_id: &str, event: Value) -> String {
    json!({
        "token": "unused",
        "team_id": TEAM,
        "api_app_id": "A0TEST",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
    })
    .to_string()
}

/// A direct message event from `user` to the bot.
pub fn direct_message(user: &str, text: &str, ts: &str, thread_ts: Option<&str>) -> Value {
    let mut e = json!({
        "type": "message",
        "channel": format!("D{user}"),
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
    });
    if let Some(thread) = thread_ts {
        e["thread_ts"] = json!(thread);
    }
    e
}

/// An interaction as Slack posts it: `payload=<url-encoded json>`.
pub fn interaction(payload: Value) -> String {
    serde_urlencoded::to_string([("payload", payload.to_string())]).expect("form")
}

/// A `block_actions` click.
pub fn click(user: &str, trigger: &str, action_id: &str, value: &str, response_url: &str) -> Value {
    json!({
        "type": "block_actions",
        "team": { "id": TEAM, "domain": "test" },
        "user": { "id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": TEAM },
        "api_app_id": "A0TEST",
        "trigger_id": trigger,
        "response_url": response_url,
        "container": { "type": "message", "message_ts": "1700000000.000100", "channel_id": "CDESK",
                       "is_ephemeral": false },
        "channel": { "id": "CDESK", "name": "desk" },
        "actions": [{ "type": "button", "action_id": action_id, "block_id": "b", "value": value,
                      "action_ts": "1700000000.1" }],
    })
}

/// A modal as Slack sends it back in a `view_submission` (or in a click
/// inside it): `values` is its `state.values`.
pub fn modal_view(callback_id: &str, private_metadata: &str, values: Value) -> Value {
    json!({
        "id": "V0CAT", "team_id": TEAM, "type": "modal", "blocks": [],
        "private_metadata": private_metadata, "callback_id": callback_id,
        "state": { "values": values }, "hash": "1700000000.abc",
        "title": { "type": "plain_text", "text": "Switchboard", "emoji": true },
        "clear_on_close": false, "notify_on_close": false, "close": null,
        "submit": { "type": "plain_text", "text": "Submit", "emoji": true },
        "previous_view_id": null, "root_view_id": "V0CAT", "app_id": "A0TEST",
        "external_id": "", "app_installed_team_id": TEAM, "bot_id": "B0TEST"
    })
}

/// A `view_submission` of `view` by `user`.
pub fn view_submission(user: &str, trigger: &str, view: Value) -> Value {
    json!({
        "type": "view_submission",
        "team": { "id": TEAM, "domain": "test" },
        "user": { "id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": TEAM },
        "api_app_id": "A0TEST", "token": "unused", "trigger_id": trigger,
        "view": view, "response_urls": [], "is_enterprise_install": false, "enterprise": null
    })
}

/// A picked menu option's state in a modal (Slack sends its text too).
pub fn option(value: &str) -> Value {
    json!({ "text": { "type": "plain_text", "text": value, "emoji": true }, "value": value })
}
