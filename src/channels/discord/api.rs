//! A small Discord REST client (reqwest): JSON requests to
//! `{api_base_url}/…` with the bot token, and Discord's rate limits kept
//! here rather than in a client library, because the outbox must own the
//! waiting: each answer's `X-RateLimit-Remaining` / `X-RateLimit-Reset-After`
//! closes a route until its bucket resets, and a `429` with `retry_after`
//! (per route, or `global`) closes the route or every route. A call to a
//! closed route is not sent: the outbox row is retried when it opens.
//! 5xx and network errors are retried; other 4xx are permanent.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::config::DiscordConfig;

/// Why a call failed, in the outbox's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiFailure {
    /// Rate limited, a server error or the network: try again, not before
    /// `after` when Discord said.
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Discord refused the call itself; `code` is Discord's JSON error code.
    Permanent { error: String, code: Option<i64> },
}

impl ApiFailure {
    fn permanent(error: String, code: Option<i64>) -> Self {
        ApiFailure::Permanent { error, code }
    }
}

/// Discord's error code for "Cannot send messages to this user" (the user
/// does not accept direct messages from server members).
pub const CANNOT_DM: i64 = 50007;

#[derive(Default)]
struct Limits {
    /// No call at all before this (a global 429).
    global_until: Option<Instant>,
    /// Per route: no call before this.
    route_until: HashMap<String, Instant>,
}

pub struct DiscordApi {
    client: reqwest::Client,
    base: String,
    token: String,
    application_id: String,
    limits: std::sync::Mutex<Limits>,
}

/// A duration from Discord's seconds (fractions allowed), capped at an hour.
fn seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && value >= 0.0).then(|| Duration::from_secs_f64(value.min(3600.0)))
}

fn header_f64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<f64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

impl DiscordApi {
    pub fn new(config: &DiscordConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!(
                "DiscordBot (https://github.com/switchboard, ",
                env!("CARGO_PKG_VERSION"),
                ")"
            ))
            .build()?;
        Ok(Self {
            client,
            base: config.api_base_url.trim_end_matches('/').to_string(),
            token: config.bot_token.expose().to_string(),
            application_id: config.application_id.trim().to_string(),
            limits: std::sync::Mutex::new(Limits::default()),
        })
    }

    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// How long `route` is closed for, if it is.
    fn closed_for(&self, route: &str) -> Option<Duration> {
        let limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let until = [limits.global_until, limits.route_until.get(route).copied()]
            .into_iter()
            .flatten()
            .max()?;
        (until > now).then(|| until - now)
    }

    fn close(&self, route: &str, global: bool, after: Duration) {
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + after;
        if global {
            limits.global_until = Some(limits.global_until.map_or(until, |u| u.max(until)));
        } else {
            let entry = limits.route_until.entry(route.to_string()).or_insert(until);
            *entry = (*entry).max(until);
        }
    }

    /// One REST call. `route` names the rate-limit route (method, path
    /// with its major parameter, other ids replaced), e.g.
    /// `PATCH /channels/123/messages/:id`.
    pub async fn call(
        &self,
        method: Method,
        route: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiFailure> {
        let mut request = self.request(method, route, path)?;
        if let Some(body) = body {
            request = request.json(body);
        }
        self.answer(route, request).await
    }

    /// A request on `route` unless its rate limit is closed.
    fn request(
        &self,
        method: Method,
        route: &str,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, ApiFailure> {
        if let Some(wait) = self.closed_for(route) {
            return Err(ApiFailure::Retry {
                error: format!("{route}: rate limited for {:.1}s more", wait.as_secs_f64()),
                after: Some(wait),
            });
        }
        Ok(self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("authorization", format!("Bot {}", self.token)))
    }

    /// Sends a request and sorts Discord's answer for the outbox, noting
    /// the route's rate limit.
    async fn answer(
        &self,
        route: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, ApiFailure> {
        let response = request.send().await.map_err(|e| ApiFailure::Retry {
            error: format!("{route}: {e}"),
            after: None,
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            let global = answer["global"].as_bool() == Some(true)
                || headers
                    .get("x-ratelimit-global")
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
            let after = answer["retry_after"]
                .as_f64()
                .or_else(|| header_f64(&headers, "retry-after"))
                .and_then(seconds)
                .unwrap_or(Duration::from_secs(1));
            self.close(route, global, after);
            return Err(ApiFailure::Retry {
                error: format!(
                    "{route}: rate limited (429{}), retry after {:.1}s",
                    if global { ", global" } else { "" },
                    after.as_secs_f64()
                ),
                after: Some(after),
            });
        }
        // The bucket is empty: nothing more on this route until it resets.
        if header_f64(&headers, "x-ratelimit-remaining") == Some(0.0) {
            if let Some(after) = header_f64(&headers, "x-ratelimit-reset-after").and_then(seconds) {
                self.close(route, false, after);
            }
        }
        if status.is_server_error() {
            return Err(ApiFailure::Retry {
                error: format!("{route}: Discord answered {status}"),
                after: None,
            });
        }
        if status == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        let answer: Value = response.json().await.map_err(|e| ApiFailure::Retry {
            error: format!("{route}: unreadable answer: {e}"),
            after: None,
        })?;
        if status.is_success() {
            return Ok(answer);
        }
        let code = answer["code"].as_i64();
        let message = answer["message"].as_str().unwrap_or("no message");
        Err(ApiFailure::permanent(
            format!("{route}: Discord answered {status}: {message}"),
            code,
        ))
    }

    /// Posts a message; its id.
    pub async fn post_message(&self, channel: &str, body: &Value) -> Result<String, ApiFailure> {
        let answer = self
            .call(
                Method::POST,
                &format!("POST /channels/{channel}/messages"),
                &format!("/channels/{channel}/messages"),
                Some(body),
            )
            .await?;
        Ok(answer["id"].as_str().unwrap_or_default().to_string())
    }

    /// Posts a message with files attached (`payload_json` and
    /// `files[n]` parts, as Discord takes uploads); its id.
    pub async fn post_message_with_files(
        &self,
        channel: &str,
        body: &Value,
        files: &[(&str, &str, &[u8])],
    ) -> Result<String, ApiFailure> {
        let route = format!("POST /channels/{channel}/messages");
        let request = self.request(
            Method::POST,
            &route,
            &format!("/channels/{channel}/messages"),
        )?;
        let mut body = body.clone();
        body["attachments"] = files
            .iter()
            .enumerate()
            .map(|(i, (name, _, _))| serde_json::json!({ "id": i, "filename": name }))
            .collect();
        let mut form = reqwest::multipart::Form::new().text("payload_json", body.to_string());
        for (i, (name, content_type, bytes)) in files.iter().enumerate() {
            let part = reqwest::multipart::Part::bytes(bytes.to_vec())
                .file_name(name.to_string())
                .mime_str(content_type)
                .map_err(|e| ApiFailure::permanent(format!("{name}: {e}"), None))?;
            form = form.part(format!("files[{i}]"), part);
        }
        let answer = self.answer(&route, request.multipart(form)).await?;
        Ok(answer["id"].as_str().unwrap_or_default().to_string())
    }

    /// Edits a message in place.
    pub async fn edit_message(
        &self,
        channel: &str,
        message: &str,
        body: &Value,
    ) -> Result<(), ApiFailure> {
        self.call(
            Method::PATCH,
            &format!("PATCH /channels/{channel}/messages/:id"),
            &format!("/channels/{channel}/messages/{message}"),
            Some(body),
        )
        .await?;
        Ok(())
    }

    /// Starts a thread on a message; the thread's id is the message's.
    pub async fn start_thread(
        &self,
        channel: &str,
        message: &str,
        name: &str,
    ) -> Result<String, ApiFailure> {
        let answer = self
            .call(
                Method::POST,
                &format!("POST /channels/{channel}/messages/:id/threads"),
                &format!("/channels/{channel}/messages/{message}/threads"),
                Some(&serde_json::json!({ "name": name, "auto_archive_duration": 10080 })),
            )
            .await?;
        Ok(answer["id"].as_str().unwrap_or(message).to_string())
    }

    /// The direct-message channel with a user (created or found).
    pub async fn dm_channel(&self, user: &str) -> Result<String, ApiFailure> {
        let answer = self
            .call(
                Method::POST,
                "POST /users/@me/channels",
                "/users/@me/channels",
                Some(&serde_json::json!({ "recipient_id": user })),
            )
            .await?;
        answer["id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| ApiFailure::permanent("no DM channel id in the answer".into(), None))
    }

    /// Replaces the original answer to an interaction (after a deferred one).
    pub async fn edit_original(&self, token: &str, body: &Value) -> Result<(), ApiFailure> {
        let app = &self.application_id;
        self.call(
            Method::PATCH,
            &format!("PATCH /webhooks/{app}/{token}/messages/@original"),
            &format!("/webhooks/{app}/{token}/messages/@original"),
            Some(body),
        )
        .await?;
        Ok(())
    }

    /// The gateway's WebSocket URL (`GET /gateway/bot`).
    pub async fn gateway_url(&self) -> Result<String, ApiFailure> {
        let answer = self
            .call(Method::GET, "GET /gateway/bot", "/gateway/bot", None)
            .await?;
        answer["url"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| ApiFailure::permanent("no gateway url in the answer".into(), None))
    }

    /// Replaces the application's commands (globally or in one guild).
    pub async fn put_commands(
        &self,
        guild: Option<&str>,
        commands: &Value,
    ) -> Result<Value, ApiFailure> {
        let app = &self.application_id;
        let path = match guild {
            Some(guild) => format!("/applications/{app}/guilds/{guild}/commands"),
            None => format!("/applications/{app}/commands"),
        };
        self.call(Method::PUT, &format!("PUT {path}"), &path, Some(commands))
            .await
    }
}
