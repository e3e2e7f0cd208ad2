//! The outbox dispatcher: claims due messages, delivers them, and records
//! the outcome — delivered, retry later (exponential backoff with jitter,
//! `Retry-After` honoured), or dead-lettered after the last attempt.
//! Delivery is at least once; receivers deduplicate by the delivery id.
//! Each channel (`webhook`, and each connector's) has a [`Deliverer`];
//! rows of a channel without one stay pending, visible through the API.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use rand::Rng;
use reqwest::header::HeaderMap;

use super::{idle, mail::smtp::SmtpDeliverer, webhook::WebhookDeliverer, Shutdown};
use crate::{
    config::{Config, OutboxConfig},
    desk::Desk,
    store::{self, outbox::OutboxRow},
};

/// How long a claimed message is reserved for one delivery attempt.
const LEASE: chrono::Duration = chrono::Duration::seconds(120);
const BATCH: i64 = 32;

/// Sends the outbox rows of one channel. One attempt per call; the
/// dispatcher owns claiming, ordering, retries and dead letters.
pub trait Deliverer: Send + Sync {
    /// The outbox channel this deliverer handles.
    fn channel(&self) -> &'static str;
    fn deliver<'a>(&'a self, message: &'a OutboxRow) -> BoxFuture<'a, Delivery>;
}

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
    /// Not the message's fault (the account cannot sign in): try again
    /// later without counting the attempt, so it is never dead-lettered
    /// for it.
    Held {
        error: String,
        not_before: Option<DateTime<Utc>>,
    },
}

/// Seconds a held message (its account cannot sign in) waits at least.
const HELD_RETRY_SECS: f64 = 60.0;

pub struct Dispatcher {
    desk: Desk,
    deliverers: Vec<Arc<dyn Deliverer>>,
    settings: OutboxConfig,
}

impl Dispatcher {
    /// A dispatcher with a deliverer for every channel the configuration
    /// enables: webhooks always, each connector when it has credentials.
    pub fn from_config(desk: Desk, config: &Config) -> anyhow::Result<Self> {
        let mut deliverers: Vec<Arc<dyn Deliverer>> = vec![Arc::new(WebhookDeliverer::new(
            desk.db.clone(),
            &config.outbox,
        )?)];
        if config.slack.enabled() {
            let slack = crate::channels::slack::inbound::Slack::new(desk.clone(), &config.slack)?;
            deliverers.push(Arc::new(
                crate::channels::slack::deliver::SlackDeliverer::new(slack),
            ));
        }
        if config.discord.enabled() {
            let api = crate::channels::discord::api::DiscordApi::new(&config.discord)?;
            let fallback =
                Some(config.discord.fallback_channel.trim().to_string()).filter(|c| !c.is_empty());
            deliverers.push(Arc::new(
                crate::channels::discord::deliver::DiscordDeliverer::new(
                    api,
                    desk.db.clone(),
                    fallback,
                ),
            ));
        }
        if !config.email.smtp_url.is_empty() {
            deliverers.push(Arc::new(SmtpDeliverer::new(
                desk.clone(),
                config.email.smtp_url.expose(),
                &config.email.from,
                &config.email.smtp_oauth,
                Duration::from_secs(config.outbox.delivery_timeout_secs),
            )?));
        }
        if config.notifications.sms_enabled() {
            deliverers.push(Arc::new(super::sms::SmsDeliverer::new(
                &config.notifications,
                Duration::from_secs(config.outbox.delivery_timeout_secs),
            )?));
        } else {
            tracing::info!("SMS notifications off: notifications.sms_account_sid, sms_auth_token and sms_from are not all set");
        }
        Ok(Self {
            desk,
            deliverers,
            settings: config.outbox.clone(),
        })
    }

    /// The channels delivered, in claim order.
    pub fn channels(&self) -> Vec<&'static str> {
        self.deliverers.iter().map(|d| d.channel()).collect()
    }

    /// Claims and delivers one batch of due messages; returns how many.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let now = store::now();
        let mut batch = Vec::new();
        for channel in self.channels() {
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
        match self
            .deliverers
            .iter()
            .find(|d| d.channel() == message.channel)
        {
            Some(deliverer) => deliverer.deliver(message).await,
            None => Delivery::Permanent(format!("no deliverer for channel `{}`", message.channel)),
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
            Delivery::Held { error, not_before } => {
                metrics.outbox_failed(&message.channel);
                // The attempt is given back, so the backoff would not grow:
                // wait at least a minute (or the configured maximum).
                let floor = chrono::Duration::milliseconds(
                    (HELD_RETRY_SECS.min(self.settings.max_backoff_secs) * 1000.0) as i64,
                );
                let mut next =
                    store::now() + backoff(&self.settings, message.attempts as u32).max(floor);
                if let Some(at) = not_before {
                    next = next.max(at);
                }
                tracing::info!(message = %message.id, %error, retry_at = %next, "outbox delivery held; will retry");
                store::outbox::mark_held(db, message.id, next, &error).await?;
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

/// Exponential backoff with "equal jitter": half fixed, half random, so
/// receivers recovering from an outage are not hit by synchronized retries.
pub fn backoff(settings: &OutboxConfig, attempt: u32) -> chrono::Duration {
    let exp = settings.initial_backoff_secs * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
    let capped = exp.min(settings.max_backoff_secs);
    let jittered = capped / 2.0 + rand::thread_rng().gen_range(0.0..=capped / 2.0);
    chrono::Duration::milliseconds((jittered * 1000.0) as i64)
}

/// `Retry-After` as seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<DateTime<Utc>> {
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

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
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
}
