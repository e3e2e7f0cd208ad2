//! A small Slack Web API client: JSON POSTs to `{api_base_url}/{method}`
//! with the bot token, paced per method, with Slack's answers sorted into
//! success, "try again (after …)" and "give up" for the outbox.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::sync::Mutex;

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

pub struct SlackApi {
    client: reqwest::Client,
    base: String,
    token: String,
    spacing: Duration,
    /// When each method may be called next.
    next_slot: Mutex<HashMap<String, Instant>>,
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
    pub fn new(config: &SlackConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let per_second = config.max_calls_per_second.max(1);
        Ok(Self {
            client,
            base: config.api_base_url.trim_end_matches('/').to_string(),
            token: config.bot_token.expose().to_string(),
            spacing: Duration::from_secs(1) / per_second,
            next_slot: Mutex::new(HashMap::new()),
        })
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
        let response = self
            .client
            .post(format!("{}/{method}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| ApiFailure::Retry {
                error: format!("{method}: {e}"),
                after: None,
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.min(3600)));
            return Err(ApiFailure::Retry {
                error: format!("{method}: rate limited (429)"),
                after,
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
