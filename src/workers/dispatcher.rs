//! The outbox dispatcher: claims due messages, delivers them, and records
//! the outcome — delivered, retry later (exponential backoff with jitter,
//! `Retry-After` honoured), or dead-lettered after the last attempt.
//! Delivery is at least once; receivers deduplicate by the delivery id.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use reqwest::{header::HeaderMap, StatusCode};
use sha2::Sha256;
use uuid::Uuid;

use super::{idle, Shutdown};
use crate::{
    config::OutboxConfig,
    desk::Desk,
    store::{self, outbox::OutboxRow},
};

/// How long a claimed message is reserved for one delivery attempt.
const LEASE: chrono::Duration = chrono::Duration::seconds(120);
const BATCH: i64 = 32;

/// The outbox channels this version delivers. Rows of other channels (email
/// until its connector lands) stay pending and visible through the API.
const DELIVERED_CHANNELS: &[&str] = &["webhook"];

/// What one delivery attempt came to.
#[derive(Debug, PartialEq)]
pub enum Delivery {
    Delivered,
    /// Try again; `not_before` when the receiver said when (Retry-After).
    Retry {
        error: String,
        not_before: Option<DateTime<Utc>>,
    },
    /// No point in trying again.
    Permanent(String),
}

pub struct Dispatcher {
    desk: Desk,
    client: reqwest::Client,
    settings: OutboxConfig,
}

impl Dispatcher {
    pub fn new(desk: Desk, settings: OutboxConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.delivery_timeout_secs))
            .user_agent(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            desk,
            client,
            settings,
        })
    }

    /// Claims and delivers one batch of due messages; returns how many.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let now = store::now();
        let mut batch = Vec::new();
        for channel in DELIVERED_CHANNELS {
            batch.extend(
                store::outbox::claim_due_outbox(&self.desk.db, channel, now, now + LEASE, BATCH)
                    .await?,
            );
        }
        // UPDATE … RETURNING gives no order: restore the order of writing.
        batch.sort_by_key(|m| (m.created_at, m.id));
        let count = batch.len();
        // Targets are served concurrently; one target's messages go in order.
        let mut by_target: Vec<Vec<&OutboxRow>> = Vec::new();
        for message in &batch {
            match by_target
                .iter_mut()
                .find(|g| g[0].channel == message.channel && g[0].target == message.target)
            {
                Some(group) => group.push(message),
                None => by_target.push(vec![message]),
            }
        }
        let results = futures::future::join_all(by_target.into_iter().map(|group| async move {
            for message in group {
                let outcome = self.deliver(message).await;
                self.record(message, outcome).await?;
            }
            anyhow::Ok(())
        }))
        .await;
        results.into_iter().collect::<anyhow::Result<()>>()?;
        Ok(count)
    }

    /// Delivers until nothing is due (tests and shutdown use this).
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let n = self.run_once().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    pub async fn run(self, mut shutdown: Shutdown) {
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let wake = self.desk.outbox_ready.clone();
        while !*shutdown.borrow() {
            match self.run_once().await {
                // A full batch suggests more is waiting: go again at once.
                Ok(n) if n as i64 >= BATCH => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "outbox dispatch failed; retrying")
                }
            }
            idle(&mut shutdown, Some(&wake), poll).await;
        }
        tracing::info!("outbox dispatcher stopped");
    }

    async fn deliver(&self, message: &OutboxRow) -> Delivery {
        match message.channel.as_str() {
            "webhook" => self.deliver_webhook(message).await,
            other => Delivery::Permanent(format!("no deliverer for channel `{other}`")),
        }
    }

    async fn deliver_webhook(&self, message: &OutboxRow) -> Delivery {
        let Ok(id) = Uuid::parse_str(&message.target) else {
            return Delivery::Permanent(format!("bad webhook target `{}`", message.target));
        };
        let subscription = match store::webhooks::get_webhook(&self.desk.db, id).await {
            Ok(Some(s)) if s.active => s,
            Ok(_) => return Delivery::Permanent("the webhook subscription was deleted".into()),
            Err(e) => {
                return Delivery::Retry {
                    error: format!("database: {e}"),
                    not_before: None,
                }
            }
        };
        let body = match serde_json::to_vec(&message.payload.0) {
            Ok(b) => b,
            Err(e) => return Delivery::Permanent(format!("payload does not serialize: {e}")),
        };
        let timestamp = Utc::now().timestamp().to_string();
        let signature = sign(&subscription.secret, &timestamp, &body);
        let response = self
            .client
            .post(&subscription.url)
            .header("content-type", "application/json")
            .header("switchboard-event", &message.event)
            .header("switchboard-delivery", message.id.to_string())
            .header("switchboard-timestamp", &timestamp)
            .header("switchboard-signature", format!("v1={signature}"))
            .body(body)
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => Delivery::Delivered,
            Ok(r) if r.status() == StatusCode::GONE => {
                Delivery::Permanent("receiver answered 410 Gone".into())
            }
            Ok(r) => Delivery::Retry {
                error: format!("receiver answered {}", r.status()),
                not_before: retry_after(r.headers()),
            },
            Err(e) => Delivery::Retry {
                error: format!("request failed: {}", error_chain(&e)),
                not_before: None,
            },
        }
    }

    async fn record(&self, message: &OutboxRow, outcome: Delivery) -> anyhow::Result<()> {
        let db = &self.desk.db;
        let metrics = &self.desk.metrics;
        match outcome {
            Delivery::Delivered => {
                store::outbox::mark_delivered(db, message.id, store::now()).await?;
                metrics.outbox_delivered(&message.channel);
            }
            Delivery::Permanent(error) => {
                tracing::warn!(message = %message.id, %error, "outbox message dead-lettered");
                store::outbox::mark_dead(db, message.id, &error).await?;
                metrics.outbox_dead(&message.channel);
            }
            Delivery::Retry { error, not_before } => {
                metrics.outbox_failed(&message.channel);
                // `attempts` already counts this one (the claim increments it).
                if message.attempts as u32 >= self.settings.max_attempts {
                    tracing::warn!(message = %message.id, %error, attempts = message.attempts, "outbox message dead-lettered");
                    store::outbox::mark_dead(db, message.id, &error).await?;
                    metrics.outbox_dead(&message.channel);
                } else {
                    let backoff = backoff(&self.settings, message.attempts as u32);
                    let mut next = store::now() + backoff;
                    if let Some(at) = not_before {
                        next = next.max(at);
                    }
                    tracing::info!(message = %message.id, %error, retry_at = %next, "outbox delivery failed; will retry");
                    store::outbox::mark_retry(db, message.id, next, &error).await?;
                }
            }
        }
        Ok(())
    }
}

/// `hex(HMAC-SHA256(secret, "{timestamp}.{body}"))`, as documented in the README.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Exponential backoff with "equal jitter": half fixed, half random, so
/// receivers recovering from an outage are not hit by synchronized retries.
pub fn backoff(settings: &OutboxConfig, attempt: u32) -> chrono::Duration {
    let exp = settings.initial_backoff_secs * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
    let capped = exp.min(settings.max_backoff_secs);
    let jittered = capped / 2.0 + rand::thread_rng().gen_range(0.0..=capped / 2.0);
    chrono::Duration::milliseconds((jittered * 1000.0) as i64)
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<DateTime<Utc>> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(store::now() + chrono::Duration::seconds(seconds.min(86_400) as i64));
    }
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let settings = OutboxConfig {
            initial_backoff_secs: 2.0,
            max_backoff_secs: 60.0,
            ..OutboxConfig::default()
        };
        for attempt in 1..20 {
            let d = backoff(&settings, attempt).num_milliseconds() as f64 / 1000.0;
            let full = (2.0 * 2f64.powi(attempt as i32 - 1)).min(60.0);
            assert!(
                d >= full / 2.0 - 0.001 && d <= full + 0.001,
                "attempt {attempt}: {d}"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::RETRY_AFTER, "30".parse().expect("header"));
        let at = retry_after(&headers).expect("seconds");
        assert!((at - store::now()).num_seconds() >= 29);
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2037 07:28:00 GMT".parse().expect("header"),
        );
        assert_eq!(
            retry_after(&headers).map(|d| d.timestamp()),
            Some(2139722880)
        );
    }

    #[test]
    fn signature_is_hmac_of_timestamp_and_body() {
        // Known answer computed with `openssl dgst -sha256 -hmac secret`.
        let sig = sign("secret", "1700000000", b"{}");
        assert_eq!(
            sig,
            "b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(sig, sign("secret", "1700000001", b"{}"));
    }
}
