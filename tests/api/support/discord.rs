//! A fake Discord: the REST routes the daemon calls (recorded, answered as
//! Discord does, with scripted `429`s carrying `retry_after` and
//! `X-RateLimit-*` headers, 5xx, and users who refuse direct messages), and
//! interactions signed with a test Ed25519 key in Discord's JSON formats,
//! sent through one `TestApp` method per endpoint.

use std::{
    collections::{HashSet, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Json, Router,
};
use serde_json::{json, Value};

use crate::{
    helpers::{expect_json, spawn_app_with, TestApp},
    support::clock::now,
};

/// The test application's secret seed; the daemon gets its public key.
pub const SEED: [u8; 32] = [42; 32];
pub const APP_ID: &str = "1100000000000000001";
pub const GUILD: &str = "1200000000000000001";
pub const CHANNEL: &str = "1300000000000000001";
/// Where the daemon asks people who refuse direct messages.
pub const FALLBACK: &str = "1300000000000000999";

/// The daemon with Discord switched on against a fresh fake.
pub async fn spawn_discord_app() -> (TestApp, FakeDiscord) {
    let fake = FakeDiscord::default();
    let base = fake.start().await;
    let app = spawn_app_with(move |c| {
        c.discord.application_id = APP_ID.into();
        c.discord.public_key = public_key();
        c.discord.bot_token = switchboard::config::Secret::new("bot-test-token");
        c.discord.api_base_url = base;
        c.discord.fallback_channel = FALLBACK.into();
    })
    .await;
    (app, fake)
}

/// Discord's interactions endpoint on the daemon.
impl TestApp {
    /// POSTs `body` to the interactions endpoint with exactly `headers`
    /// (for signatures that are wrong, stale or missing).
    pub async fn post_discord_raw(
        &self,
        body: &str,
        headers: Vec<(&'static str, String)>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/discord/interactions"))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send().await.expect("request sent")
    }

    /// An interaction, signed now as Discord signs it.
    pub async fn post_discord_interaction(&self, interaction: &Value) -> reqwest::Response {
        let body = interaction.to_string();
        self.post_discord_raw(&body, signed(now(), &body)).await
    }

    /// Sends a signed interaction and returns Discord's view of the answer
    /// (asserting 200).
    pub async fn discord_answer(&self, interaction: &Value) -> Value {
        expect_json(
            self.post_discord_interaction(interaction).await,
            StatusCode::OK,
        )
        .await
    }

    /// The answer as the person sees it in the end: the immediate one, or
    /// — when the daemon was slow (a loaded machine) and deferred it — the
    /// edit of the deferred answer, in the same shape.
    pub async fn discord_final_answer(&self, fake: &FakeDiscord, interaction: &Value) -> Value {
        let answer = self.discord_answer(interaction).await;
        if answer["type"] != 5 {
            return answer;
        }
        let token = interaction["token"].as_str().expect("token");
        let path = format!("/webhooks/{APP_ID}/{token}/messages/@original");
        let edited = crate::helpers::eventually(std::time::Duration::from_secs(20), || async {
            !fake.calls_to("PATCH", &path).is_empty()
        })
        .await;
        assert!(
            edited,
            "the deferred answer was never sent: {:?}",
            fake.calls()
        );
        let edit = fake.calls_to("PATCH", &path).remove(0).body;
        json!({ "type": 4, "data": { "flags": answer["data"]["flags"], "content": edit["content"],
                                     "components": edit["components"] } })
    }
}

/// The text of an interaction's answer.
pub fn content(answer: &Value) -> String {
    answer["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub fn public_key() -> String {
    switchboard::channels::discord::verify::public_key_hex(&SEED)
}

/// One recorded REST call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
}

/// A scripted answer for the next call.
#[derive(Debug, Clone)]
enum Scripted {
    Limited {
        retry_after: f64,
        global: bool,
    },
    ServerError,
    /// Carried out, but answered 502: the answer was lost on the way.
    AnswerLost,
    /// Answered normally, but the route's bucket is now empty.
    EmptyBucket {
        reset_after: f64,
    },
}

/// A file posted with a message: (message id, file name, bytes).
type PostedFile = (String, String, Vec<u8>);

#[derive(Clone, Default)]
pub struct FakeDiscord {
    calls: Arc<Mutex<Vec<Call>>>,
    scripted: Arc<Mutex<VecDeque<Scripted>>>,
    no_dms: Arc<Mutex<HashSet<String>>>,
    next_id: Arc<Mutex<u64>>,
    /// Messages posted: (channel, id, body).
    posted: Arc<Mutex<Vec<(String, String, Value)>>>,
    files: Arc<Mutex<Vec<PostedFile>>>,
    /// What `GET /gateway/bot` answers.
    gateway_url: Arc<Mutex<String>>,
    gateway: Arc<std::sync::OnceLock<super::gateway::FakeGateway>>,
    /// Pacing tests: per-route scripts (see [`FakeDiscord::fail_next_on`]).
    on_route: Arc<Mutex<Vec<RouteScript>>>,
}

impl FakeDiscord {
    /// Serves on a random loopback port; returns the API base URL.
    pub async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind fake Discord");
        let addr = listener.local_addr().expect("addr");
        let router = Router::new().fallback(api).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}/api/v10")
    }

    /// The next call is answered 429 with this `retry_after` (seconds).
    pub fn rate_limit_next(&self, retry_after: f64, global: bool) {
        self.scripted
            .lock()
            .expect("lock")
            .push_back(Scripted::Limited {
                retry_after,
                global,
            });
    }

    /// The next call succeeds with `X-RateLimit-Remaining: 0`.
    pub fn empty_bucket_next(&self, reset_after: f64) {
        self.scripted
            .lock()
            .expect("lock")
            .push_back(Scripted::EmptyBucket { reset_after });
    }

    /// The next call is answered 502.
    pub fn fail_next(&self) {
        self.scripted
            .lock()
            .expect("lock")
            .push_back(Scripted::ServerError);
    }

    /// This user does not accept direct messages (Discord's 50007).
    pub fn refuse_dms(&self, user: &str) {
        self.no_dms.lock().expect("lock").insert(user.to_string());
    }

    /// Messages posted in `channel`: (id, body).
    pub fn posted_in(&self, channel: &str) -> Vec<(String, Value)> {
        self.posted
            .lock()
            .expect("lock")
            .iter()
            .filter(|(c, _, _)| c == channel)
            .map(|(_, id, body)| (id.clone(), body.clone()))
            .collect()
    }

    /// Where `GET /gateway/bot` sends the daemon.
    pub fn set_gateway_url(&self, url: &str) {
        *self.gateway_url.lock().expect("lock") = url.to_string();
    }

    /// Starts a fake gateway (support/gateway.rs) and points
    /// `GET /gateway/bot` at it.
    pub async fn start_gateway(&self) -> super::gateway::FakeGateway {
        let gateway = super::gateway::FakeGateway::start().await;
        self.set_gateway_url(&gateway.url);
        let _ = self.gateway.set(gateway.clone());
        gateway
    }

    /// The gateway [`Self::start_gateway`] started.
    pub fn gateway(&self) -> super::gateway::FakeGateway {
        self.gateway.get().expect("start_gateway first").clone()
    }

    /// Pushes a frame on the live gateway connection.
    pub fn gateway_send(&self, frame: Value) {
        self.gateway().send(frame);
    }

    pub fn gateway_connections(&self) -> usize {
        self.gateway().connections().len()
    }

    /// Frames the daemon sent on the gateway, oldest first.
    pub fn gateway_received(&self) -> Vec<Value> {
        self.gateway().received()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().expect("lock").clone()
    }

    /// The files posted with message `id`: (file name, bytes).
    pub fn files_of(&self, id: &str) -> Vec<(String, Vec<u8>)> {
        let files = self.files.lock().expect("lock");
        files
            .iter()
            .filter(|(message, _, _)| message == id)
            .map(|(_, name, bytes)| (name.clone(), bytes.clone()))
            .collect()
    }

    /// Bodies of calls of `method` to paths matching `path` (a prefix,
    /// ids included, or with `*` for one segment).
    pub fn calls_to(&self, method: &str, path: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && matches(path, &c.path))
            .collect()
    }

    fn id(&self) -> String {
        let mut n = self.next_id.lock().expect("lock");
        *n += 1;
        format!("{}", 1_400_000_000_000_000_000u64 + *n)
    }
}

fn matches(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    p.len() == s.len() && p.iter().zip(&s).all(|(a, b)| *a == "*" || a == b)
}

fn limited(retry_after: f64, global: bool) -> Response {
    let mut headers = vec![
        ("x-ratelimit-limit", "5".to_string()),
        ("x-ratelimit-remaining", "0".to_string()),
        ("x-ratelimit-reset-after", format!("{retry_after:.3}")),
        ("x-ratelimit-bucket", "abcd1234".to_string()),
        ("retry-after", format!("{}", retry_after.ceil() as u64)),
        (
            "x-ratelimit-scope",
            if global { "global" } else { "user" }.to_string(),
        ),
    ];
    if global {
        headers.push(("x-ratelimit-global", "true".to_string()));
    }
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": global })),
    )
        .into_response();
    for (name, value) in headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("header"));
    }
    response
}

/// A multipart upload as Discord takes it: the message in `payload_json`,
/// the files in `files[n]` parts.
async fn read_multipart(
    headers: &axum::http::HeaderMap,
    body: Bytes,
) -> (Value, Vec<(String, Vec<u8>)>) {
    use axum::extract::FromRequest;
    let mut request = axum::http::Request::new(axum::body::Body::from(body));
    *request.headers_mut() = headers.clone();
    let mut form = axum::extract::Multipart::from_request(request, &())
        .await
        .expect("a multipart body");
    let (mut payload, mut files) = (Value::Null, Vec::new());
    while let Some(field) = form.next_field().await.expect("a part") {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(String::from);
        let bytes = field.bytes().await.expect("part bytes").to_vec();
        match file_name {
            Some(file_name) if name.starts_with("files[") => files.push((file_name, bytes)),
            _ if name == "payload_json" => {
                payload = serde_json::from_slice(&bytes).expect("payload_json is JSON");
            }
            _ => panic!("unexpected part {name}"),
        }
    }
    (payload, files)
}

async fn api(
    State(fake): State<FakeDiscord>,
    method: Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path()
        .strip_prefix("/api/v10")
        .unwrap_or(uri.path())
        .to_string();
    let multipart = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("multipart/form-data"));
    let (body, files) = if multipart {
        read_multipart(&headers, body).await
    } else {
        (
            serde_json::from_slice(&body).unwrap_or(Value::Null),
            Vec::new(),
        )
    };
    fake.calls.lock().expect("lock").push(Call {
        method: method.to_string(),
        path: path.clone(),
        body: body.clone(),
    });
    let scripted = fake
        .route_script(method.as_str(), &path)
        .or_else(|| fake.scripted.lock().expect("lock").pop_front());
    let mut response = match scripted {
        Some(Scripted::Limited {
            retry_after,
            global,
        }) => return limited(retry_after, global),
        Some(Scripted::ServerError) => return StatusCode::BAD_GATEWAY.into_response(),
        Some(Scripted::AnswerLost) => {
            let _carried_out = answer(&fake, &method, &path, &body);
            return StatusCode::BAD_GATEWAY.into_response();
        }
        _ => answer(&fake, &method, &path, &body),
    };
    if !files.is_empty() {
        let id = fake
            .posted
            .lock()
            .expect("lock")
            .last()
            .map(|p| p.1.clone());
        let mut kept = fake.files.lock().expect("lock");
        for (name, bytes) in files {
            kept.push((id.clone().unwrap_or_default(), name, bytes));
        }
    }
    let (remaining, reset_after) = match scripted {
        Some(Scripted::EmptyBucket { reset_after }) => (0, reset_after),
        _ => (4, 1.0),
    };
    for (name, value) in [
        ("x-ratelimit-limit", "5".to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset-after", format!("{reset_after:.3}")),
        ("x-ratelimit-bucket", "abcd1234".to_string()),
    ] {
        response
            .headers_mut()
            .insert(name, value.parse().expect("header"));
    }
    response
}

fn answer(fake: &FakeDiscord, method: &Method, path: &str, body: &Value) -> Response {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["channels", channel, "messages"]) => {
            // Discord answers a create whose enforced nonce it has seen
            // with the message it made then.
            let earlier = (body["enforce_nonce"] == true && body["nonce"].is_string())
                .then(|| {
                    let posted = fake.posted.lock().expect("lock");
                    posted
                        .iter()
                        .find(|(c, _, b)| c == channel && b["nonce"] == body["nonce"])
                        .map(|(_, id, _)| id.clone())
                })
                .flatten();
            if let Some(id) = earlier {
                return Json(json!({ "id": id, "channel_id": channel, "content": body["content"],
                                    "nonce": body["nonce"], "type": 0 }))
                .into_response();
            }
            let id = fake.id();
            fake.posted
                .lock()
                .expect("lock")
                .push((channel.to_string(), id.clone(), body.clone()));
            Json(json!({ "id": id, "channel_id": channel, "content": body["content"], "type": 0 }))
                .into_response()
        }
        ("PATCH", ["channels", channel, "messages", id]) => {
            Json(json!({ "id": id, "channel_id": channel, "content": body["content"] }))
                .into_response()
        }
        ("POST", ["channels", _, "messages", id, "threads"]) => {
            Json(json!({ "id": id, "type": 11, "name": body["name"] })).into_response()
        }
        ("POST", ["users", "@me", "channels"]) => {
            let user = body["recipient_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if fake.no_dms.lock().expect("lock").contains(&user) {
                return (
                    StatusCode::FORBIDDEN,
                    Json(json!({ "message": "Cannot send messages to this user", "code": 50007 })),
                )
                    .into_response();
            }
            // Discord refuses a recipient that is no snowflake.
            let Some(channel) = dm_channel_of(&user) else {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ "message": "Invalid Form Body", "code": 50035 })),
                )
                    .into_response();
            };
            Json(json!({ "id": channel, "type": 1, "recipients": [{ "id": user }] }))
                .into_response()
        }
        ("GET", ["attachments", name]) => format!("contents of {name}").into_response(),
        ("GET", ["gateway", "bot"]) => Json(json!({ "url": *fake.gateway_url.lock().expect("lock"),
            "shards": 1, "session_start_limit": { "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1 } }))
            .into_response(),
        ("PATCH", ["webhooks", _, _, "messages", "@original"]) => {
            Json(json!({ "id": fake.id() })).into_response()
        }
        ("PUT", ["applications", _, "commands"])
        | ("PUT", ["applications", _, "guilds", _, "commands"]) => {
            let commands: Vec<Value> = body
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut c| {
                    c["id"] = json!(fake.id());
                    c
                })
                .collect();
            Json(Value::Array(commands)).into_response()
        }
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({ "message": "404: Not Found", "code": 0 })),
        )
            .into_response(),
    }
}

/// Headers Discord signs an interaction with, for `body` at `timestamp`.
pub fn signed(timestamp: i64, body: &str) -> Vec<(&'static str, String)> {
    let ts = timestamp.to_string();
    vec![
        (
            "x-signature-ed25519",
            switchboard::channels::discord::verify::sign(&SEED, &ts, body.as_bytes()),
        ),
        ("x-signature-timestamp", ts),
    ]
}

/// Direct-message channel ids are the user's id plus this: snowflakes of
/// their own (below 2^64 for the test users, who are 3… and 4…), that a
/// test can name.
const DM_OFFSET: u64 = 5_000_000_000_000_000_000;

fn dm_channel_of(user: &str) -> Option<String> {
    let user: u64 = user.parse().ok()?;
    user.checked_add(DM_OFFSET).map(|id| id.to_string())
}

/// The direct-message channel the fake opens with `user`.
pub fn dm_channel(user: &str) -> String {
    dm_channel_of(user).expect("the user id is a snowflake below 2^64 - DM_OFFSET")
}

/// A guild member as interactions carry it.
pub fn member(user: &str) -> Value {
    json!({
        "user": { "id": user, "username": format!("user{}", &user[user.len().saturating_sub(4)..]),
                  "global_name": format!("User {user}"), "discriminator": "0", "avatar": null, "public_flags": 0 },
        "roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false,
        "flags": 0, "pending": false, "permissions": "2248473465835073", "nick": null, "avatar": null,
        "premium_since": null, "communication_disabled_until": null,
    })
}

/// The envelope every interaction shares; `kind` is Discord's type number.
/// With `guild` false it comes from a direct message (`user`, no member).
pub fn interaction(id: &str, kind: u8, user: &str, guild: bool, data: Value) -> Value {
    let mut i = json!({
        "id": id,
        "application_id": APP_ID,
        "type": kind,
        "data": data,
        "token": format!("token-{id}"),
        "version": 1,
        "locale": "en-US",
        "app_permissions": "2248473465835073",
        "entitlements": [],
        "authorizing_integration_owners": { "0": GUILD },
        "attachment_size_limit": 10485760,
    });
    if guild {
        i["guild_id"] = json!(GUILD);
        i["guild_locale"] = json!("en-US");
        i["channel_id"] = json!(CHANNEL);
        i["channel"] = json!({ "id": CHANNEL, "type": 0, "guild_id": GUILD, "name": "help" });
        i["member"] = member(user);
        i["context"] = json!(0);
    } else {
        i["channel_id"] = json!(dm_channel(user));
        i["channel"] = json!({ "id": dm_channel(user), "type": 1 });
        i["user"] = member(user)["user"].clone();
        i["context"] = json!(1);
    }
    i
}

/// A slash command with string options.
pub fn command(id: &str, user: &str, name: &str, options: &[(&str, &str)]) -> Value {
    let options: Vec<Value> = options
        .iter()
        .map(|(n, v)| json!({ "name": n, "type": 3, "value": v }))
        .collect();
    let mut data = json!({ "id": "1500000000000000001", "name": name, "type": 1 });
    if !options.is_empty() {
        data["options"] = json!(options);
    }
    interaction(id, 2, user, true, data)
}

/// A button click (or select, with `values`) on `message`.
pub fn click(id: &str, user: &str, guild: bool, custom_id: &str, message: Value) -> Value {
    let component_type = if custom_id.starts_with("priority:") {
        3
    } else {
        2
    };
    let mut data = json!({ "custom_id": custom_id, "component_type": component_type });
    if component_type == 3 {
        data["values"] = json!(["high"]);
    }
    let mut i = interaction(id, 3, user, guild, data);
    i["message"] = message;
    i
}

/// A modal submission with text inputs (`custom_id`, value), each in an
/// action row; Discord numbers every component (`id`).
pub fn modal(id: &str, user: &str, custom_id: &str, values: &[(&str, &str)]) -> Value {
    let rows: Vec<Value> = values
        .iter()
        .zip((1..).step_by(2))
        .map(|((k, v), n)| {
            json!({ "type": 1, "id": n, "components": [{ "type": 4, "id": n + 1, "custom_id": k, "value": v }] })
        })
        .collect();
    modal_of(id, user, custom_id, rows)
}

fn modal_of(id: &str, user: &str, custom_id: &str, components: Vec<Value>) -> Value {
    interaction(
        id,
        5,
        user,
        true,
        json!({ "custom_id": custom_id, "components": components }),
    )
}

/// The `/ticket` modal submitted with a title and an urgency picked from
/// its menu (nothing picked when empty).
pub fn ticket_modal(id: &str, user: &str, title: &str, urgency: &str) -> Value {
    let text = |n: u32, key: &str, value: &str| json!({ "type": 1, "id": n, "components": [{ "type": 4, "id": n + 1, "custom_id": key, "value": value }] });
    let picked: Vec<&str> = Some(urgency)
        .filter(|u| !u.is_empty())
        .into_iter()
        .collect();
    modal_of(
        id,
        user,
        "ticket_modal",
        vec![
            text(1, "title", title),
            text(3, "description", "Details here"),
            json!({ "type": 18, "id": 5, "component": {
                "type": 3, "id": 6, "custom_id": "urgency", "values": picked,
            } }),
        ],
    )
}

/// A message the daemon posted (or answered with), as Discord hands it back
/// in the interactions on it: its content, components and embeds, each
/// embed typed (`rich`, as Discord types every bot embed).
pub fn echoed(id: &str, channel: &str, body: &Value) -> Value {
    let mut echoed = message(id, channel, body["content"].as_str().unwrap_or_default());
    if let Some(components) = body.get("components") {
        echoed["components"] = components.clone();
    }
    let embeds: Vec<Value> = body["embeds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|embed| {
            let mut embed = embed.clone();
            embed["type"] = json!("rich");
            embed
        })
        .collect();
    echoed["embeds"] = json!(embeds);
    echoed
}

/// A message as Discord includes it in component interactions.
pub fn message(id: &str, channel: &str, content: &str) -> Value {
    json!({
        "id": id, "channel_id": channel, "type": 0, "content": content, "embeds": [], "components": [],
        "author": { "id": APP_ID, "username": "switchboard", "bot": true, "discriminator": "0", "avatar": null },
        "timestamp": "2026-11-22T08:00:00.000000+00:00", "edited_timestamp": null, "flags": 0, "tts": false, "mention_everyone": false,
        "mentions": [], "mention_roles": [], "attachments": [], "pinned": false,
    })
}

/// A scripted answer for the next call of one method on one path pattern
/// (pacing tests), leaving other routes alone.
#[derive(Debug, Clone)]
struct RouteScript {
    method: String,
    pattern: String,
    answer: Scripted,
}

/// Per-route scripts, for the pacing tests.
impl FakeDiscord {
    /// The next `method` call on a path matching `pattern` (see
    /// [`FakeDiscord::calls_to`]) is answered 502.
    pub fn fail_next_on(&self, method: &str, pattern: &str) {
        self.script_route(method, pattern, Scripted::ServerError);
    }

    /// The next `method` call on a path matching `pattern` is carried out
    /// but answered 502, as when Discord's answer is lost after it posted.
    pub fn lose_next_answer_on(&self, method: &str, pattern: &str) {
        self.script_route(method, pattern, Scripted::AnswerLost);
    }

    fn script_route(&self, method: &str, pattern: &str, answer: Scripted) {
        self.on_route.lock().expect("lock").push(RouteScript {
            method: method.into(),
            pattern: pattern.into(),
            answer,
        });
    }

    /// The scripted answer of this call, if one was scripted for its route.
    fn route_script(&self, method: &str, path: &str) -> Option<Scripted> {
        let mut scripts = self.on_route.lock().expect("lock");
        let at = scripts
            .iter()
            .position(|s| s.method == method && matches(&s.pattern, path))?;
        Some(scripts.remove(at).answer)
    }
}
