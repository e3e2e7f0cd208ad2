//! A small Slack Web API client: JSON POSTs to `{api_base_url}/{method}`
//! with the bot token, paced per method, with Slack's answers sorted into
//! success, "try again (after …)" and "give up" for the outbox.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::Mutex;
use uuid::Uuid;

use super::installs::Installs;
use crate::config::SlackConfig;

/// Why a call failed, in the outbox's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiFailure {
    /// Rate limited, a server error or the network: try again, not before
    /// `after` when Slack said (`Retry-After`).
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Slack refused the call itself (`ok: false` with a lasting reason).
    Permanent(String),
}

#[derive(Clone)]
pub struct SlackApi {
    client: reqwest::Client,
    base: String,
    /// The bot token calls use: the configured one, or an installed
    /// workspace's (see [`SlackApi::for_team`]).
    token: String,
    /// Workspaces installed through OAuth, when `slack.token_key` is set.
    pub installs: Option<Arc<Installs>>,
    /// The app-level token (`xapp-…`) for Socket Mode; may be empty.
    app_token: String,
    spacing: Duration,
    /// When each method may be called next (shared by all workspaces'
    /// clients of this process).
    next_slot: Arc<Mutex<HashMap<String, Instant>>>,
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(3600)))
}

/// `ok: false` errors worth retrying.
const TRANSIENT: &[&str] = &[
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

impl SlackApi {
    pub fn new(config: &SlackConfig, installs: Option<Arc<Installs>>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let per_second = config.max_calls_per_second.max(1);
        Ok(Self {
            client,
            base: config.api_base_url.trim_end_matches('/').to_string(),
            token: config.bot_token.expose().to_string(),
            app_token: config.app_token.expose().to_string(),
            spacing: Duration::from_secs(1) / per_second,
            next_slot: Arc::default(),
            installs,
        })
    }

    /// The API base URL (`slack.api_base_url`).
    pub fn base(&self) -> &str {
        &self.base
    }

    fn with_token(&self, token: String) -> Self {
        Self {
            token,
            ..self.clone()
        }
    }

    /// This client with the bot token of workspace `team` when it was
    /// installed through OAuth, else the configured token.
    pub async fn for_team(&self, team: &str) -> Result<Self, ApiFailure> {
        let Some(installs) = &self.installs else {
            return Ok(self.clone());
        };
        match installs.for_team(team).await {
            Ok(Some((_, token))) => Ok(self.with_token(token)),
            Ok(None) => Ok(self.clone()),
            Err(e) => Err(ApiFailure::Retry {
                error: format!("reading the Slack install of {team}: {e}"),
                after: None,
            }),
        }
    }

    /// This client with the bot token of the organization's installed
    /// workspace, else the configured token.
    pub async fn for_org(&self, org_id: Uuid) -> Result<Self, ApiFailure> {
        let Some(installs) = &self.installs else {
            return Ok(self.clone());
        };
        match installs.for_org(org_id).await {
            Ok(Some(token)) => Ok(self.with_token(token)),
            Ok(None) => Ok(self.clone()),
            Err(e) => Err(ApiFailure::Retry {
                error: format!("reading the Slack install of {org_id}: {e}"),
                after: None,
            }),
        }
    }

    /// `oauth.v2.access`: exchanges an install's code (client credentials
    /// in the form, as Slack documents).
    pub async fn oauth_access(
        &self,
        client_id: &str,
        client_secret: &str,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Value, ApiFailure> {
        let method = "oauth.v2.access";
        self.pace(method).await;
        let request = self.client.post(format!("{}/{method}", self.base)).form(&[
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ]);
        self.answer(method, request).await
    }

    /// Waits for the method's next slot, so a burst is spread out instead
    /// of being answered with 429s.
    async fn pace(&self, method: &str) {
        let wait = {
            let mut slots = self.next_slot.lock().await;
            let now = Instant::now();
            let slot = slots.get(method).copied().unwrap_or(now).max(now);
            slots.insert(method.to_string(), slot + self.spacing);
            slot - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Calls a Web API method with a JSON body; the answer when `ok`.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, ApiFailure> {
        self.pace(method).await;
        let request = self
            .client
            .post(format!("{}/{method}", self.base))
            .bearer_auth(&self.token)
            .json(body);
        self.answer(method, request).await
    }

    /// Calls a method that needs the app-level token (`apps.connections.open`).
    pub async fn call_with_app_token(&self, method: &str) -> Result<Value, ApiFailure> {
        if self.app_token.is_empty() {
            return Err(ApiFailure::Permanent(
                "slack.app_token is not set (Socket Mode needs it)".into(),
            ));
        }
        self.pace(method).await;
        let request = self
            .client
            .post(format!("{}/{method}", self.base))
            .bearer_auth(&self.app_token);
        self.answer(method, request).await
    }

    /// Calls a Web API method that takes form fields (Slack's read methods,
    /// e.g. `conversations.history`, do not accept JSON bodies).
    pub async fn call_form(
        &self,
        method: &str,
        fields: &[(&str, &str)],
    ) -> Result<Value, ApiFailure> {
        self.pace(method).await;
        let request = self
            .client
            .post(format!("{}/{method}", self.base))
            .bearer_auth(&self.token)
            .form(fields);
        self.answer(method, request).await
    }

    async fn answer(
        &self,
        method: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, ApiFailure> {
        let response = request.send().await.map_err(|e| ApiFailure::Retry {
            error: format!("{method}: {e}"),
            after: None,
        })?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ApiFailure::Retry {
                error: format!("{method}: rate limited (429)"),
                after: retry_after(&response),
            });
        }
        if status.is_server_error() {
            return Err(ApiFailure::Retry {
                error: format!("{method}: Slack answered {status}"),
                after: None,
            });
        }
        let answer: Value = response.json().await.map_err(|e| ApiFailure::Retry {
            error: format!("{method}: unreadable answer: {e}"),
            after: None,
        })?;
        if answer["ok"].as_bool() == Some(true) {
            return Ok(answer);
        }
        let error = answer["error"]
            .as_str()
            .unwrap_or("unknown_error")
            .to_string();
        if TRANSIENT.contains(&error.as_str()) {
            Err(ApiFailure::Retry {
                error: format!("{method}: {error}"),
                after: None,
            })
        } else {
            Err(ApiFailure::Permanent(format!("{method}: {error}")))
        }
    }

    /// The message in `channel` (or in the thread of `thread`) posted since
    /// `since` whose metadata is of `event_type` and carries `mark`: its
    /// channel and `ts`. A user id as the channel means the direct-message
    /// channel with that user. Reads a bounded number of pages.
    pub async fn find_marked(
        &self,
        channel: &str,
        thread: Option<&str>,
        event_type: &str,
        mark: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<(String, String)>, ApiFailure> {
        const PAGES: usize = 5;
        let channel = if channel.starts_with(['U', 'W']) {
            let opened = self
                .call("conversations.open", &json!({ "users": channel }))
                .await?;
            opened["channel"]["id"]
                .as_str()
                .unwrap_or(channel)
                .to_string()
        } else {
            channel.to_string()
        };
        // A minute before the row was written covers clocks a little apart.
        let oldest = format!("{}.000000", since.timestamp() - 60);
        let mut cursor = String::new();
        for _ in 0..PAGES {
            let mut fields = vec![
                ("channel", channel.as_str()),
                ("oldest", oldest.as_str()),
                ("include_all_metadata", "true"),
                ("limit", "200"),
            ];
            let method = match thread {
                Some(ts) => {
                    fields.push(("ts", ts));
                    "conversations.replies"
                }
                None => "conversations.history",
            };
            if !cursor.is_empty() {
                fields.push(("cursor", cursor.as_str()));
            }
            let page = self.call_form(method, &fields).await?;
            let marked = page["messages"].as_array().and_then(|messages| {
                messages.iter().find(|m| {
                    m["metadata"]["event_type"] == event_type
                        && m["metadata"]["event_payload"]["mark"] == mark
                })
            });
            if let Some(ts) = marked.and_then(|m| m["ts"].as_str()) {
                return Ok(Some((channel, ts.to_string())));
            }
            cursor = page["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if cursor.is_empty() {
                break;
            }
        }
        Ok(None)
    }

    /// Downloads a file Slack hosts (`url_private_download`) with the bot
    /// token, reading at most `limit` bytes: `Ok(None)` when it is larger.
    /// The token goes only to Slack's file host (or the configured API host
    /// in tests), never to a URL from elsewhere.
    pub async fn download(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, ApiFailure> {
        let base_host = url::Url::parse(&self.base)
            .ok()
            .and_then(|u| u.host_str().map(String::from));
        let parsed = url::Url::parse(url)
            .map_err(|e| ApiFailure::Permanent(format!("bad file URL {url}: {e}")))?;
        let host = parsed.host_str().unwrap_or_default();
        let slack_host = parsed.scheme() == "https"
            && (host == "files.slack.com" || host.ends_with(".slack.com"));
        if !slack_host && Some(host) != base_host.as_deref() {
            return Err(ApiFailure::Permanent(format!(
                "refusing to send the bot token to {host}"
            )));
        }
        self.pace("files.download").await;
        let mut response = self
            .client
            .get(parsed)
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| ApiFailure::Retry {
                error: format!("file download: {e}"),
                after: None,
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ApiFailure::Retry {
                error: "file download: rate limited (429)".into(),
                after: retry_after(&response),
            });
        }
        if status.is_server_error() {
            return Err(ApiFailure::Retry {
                error: format!("file download: Slack answered {status}"),
                after: None,
            });
        }
        if !status.is_success() {
            return Err(ApiFailure::Permanent(format!(
                "file download: Slack answered {status}"
            )));
        }
        if response.content_length().is_some_and(|n| n > limit) {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| ApiFailure::Retry {
            error: format!("file download: {e}"),
            after: None,
        })? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Ok(None);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(bytes))
    }

    /// Shares files in a channel with a message, the way Slack uploads
    /// now go: an upload URL per file (`files.getUploadURLExternal`), the
    /// bytes posted there, then one `files.completeUploadExternal` that
    /// posts them together. A retry uploads afresh: files never completed
    /// stay private and unseen.
    pub async fn share_files(
        &self,
        channel: &str,
        text: &str,
        files: &[(&str, &[u8])],
    ) -> Result<(), ApiFailure> {
        let mut uploaded = Vec::with_capacity(files.len());
        for (name, bytes) in files {
            let length = bytes.len().to_string();
            let answer = self
                .call_form(
                    "files.getUploadURLExternal",
                    &[("filename", name), ("length", &length)],
                )
                .await?;
            let (Some(url), Some(id)) = (answer["upload_url"].as_str(), answer["file_id"].as_str())
            else {
                return Err(ApiFailure::Retry {
                    error: "files.getUploadURLExternal: no upload_url or file_id".into(),
                    after: None,
                });
            };
            self.upload(url, bytes).await?;
            uploaded.push(serde_json::json!({ "id": id, "title": name }));
        }
        self.call(
            "files.completeUploadExternal",
            &serde_json::json!({
                "files": uploaded,
                "channel_id": channel,
                "initial_comment": text,
            }),
        )
        .await?;
        Ok(())
    }

    /// Posts a file's bytes to the upload URL Slack handed out; only to
    /// Slack's own file host (or the configured API host in tests).
    async fn upload(&self, url: &str, bytes: &[u8]) -> Result<(), ApiFailure> {
        let parsed = url::Url::parse(url)
            .map_err(|e| ApiFailure::Permanent(format!("bad upload URL {url}: {e}")))?;
        let host = parsed.host_str().unwrap_or_default();
        let slack_host = parsed.scheme() == "https" && host.ends_with(".slack.com");
        if !slack_host && !url.starts_with(&self.base) {
            return Err(ApiFailure::Permanent(format!(
                "refusing to upload to unexpected host {host}"
            )));
        }
        self.pace("files.upload").await;
        let response = self
            .client
            .post(parsed)
            .body(bytes.to_vec())
            .send()
            .await
            .map_err(|e| ApiFailure::Retry {
                error: format!("file upload: {e}"),
                after: None,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let error = format!("file upload: Slack answered {status}");
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(ApiFailure::Retry {
                after: retry_after(&response),
                error,
            })
        } else {
            Err(ApiFailure::Permanent(error))
        }
    }

    /// Posts to a `response_url` (ephemeral answers to clicks and commands).
    pub async fn respond(&self, response_url: &str, body: &Value) -> Result<(), ApiFailure> {
        // Only Slack's own hooks, or the configured API host in tests.
        let allowed = response_url.starts_with("https://hooks.slack.com/")
            || response_url.starts_with(&self.base);
        if !allowed {
            return Err(ApiFailure::Permanent(format!(
                "refusing to post to unexpected response_url {response_url}"
            )));
        }
        self.client
            .post(response_url)
            .json(body)
            .send()
            .await
            .map_err(|e| ApiFailure::Retry {
                error: e.to_string(),
                after: None,
            })?;
        Ok(())
    }
}
