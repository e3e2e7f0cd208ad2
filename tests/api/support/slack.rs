//! A fake Slack: the Web API methods the daemon calls (recorded, answered
//! like Slack does, with scripted 429s), a `response_url` sink, and signed
//! requests to the daemon in Slack's wire formats.

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

pub const SECRET: &str = "test-signing-secret";
pub const TEAM: &str = "T0TEST";

/// One recorded Web API call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
}

#[derive(Clone, Default)]
pub struct FakeSlack {
    calls: Arc<Mutex<Vec<Call>>>,
    /// Scripted 429s: Retry-After seconds, consumed one per call.
    limited: Arc<Mutex<VecDeque<u64>>>,
    next_ts: Arc<Mutex<u64>>,
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
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}/api")
    }

    /// The next call is answered `429 Retry-After: secs`.
    pub fn rate_limit_next(&self, secs: u64) {
        self.limited.lock().expect("lock").push_back(secs);
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
}

async fn api(
    State(fake): State<FakeSlack>,
    Path(method): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    fake.calls.lock().expect("lock").push(Call {
        method: method.clone(),
        body: body.clone(),
    });
    if let Some(secs) = fake.limited.lock().expect("lock").pop_front() {
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
        format!("1700000000.{:06}", *n)
    };
    let channel = body["channel"].as_str().unwrap_or_default().to_string();
    match method.as_str() {
        "chat.postMessage" => {
            Json(json!({ "ok": true, "channel": channel, "ts": ts })).into_response()
        }
        "chat.update" => {
            Json(json!({ "ok": true, "channel": channel, "ts": body["ts"] })).into_response()
        }
        "views.open" | "views.publish" => {
            Json(json!({ "ok": true, "view": { "id": "V1" } })).into_response()
        }
        _ => Json(json!({ "ok": false, "error": "unknown_method" })).into_response(),
    }
}

async fn respond(
    State(fake): State<FakeSlack>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> StatusCode {
    fake.calls.lock().expect("lock").push(Call {
        method: format!("response/{id}"),
        body,
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
        "container": { "type": "message" },
        "actions": [{ "type": "button", "action_id": action_id, "block_id": "b", "value": value,
                      "action_ts": "1700000000.1" }],
    })
}
