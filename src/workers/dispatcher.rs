//! The outbox dispatcher: claims due messages, delivers them, and records
//! the outcome — delivered, retry later (exponential backoff with jitter,
//! `Retry-After` honoured), or dead-lettered after the last attempt.
//! Delivery is at least once; receivers deduplicate by the delivery id.
//! Each channel (`webhook`, and each connector's) has a [`Deliverer`],
//! handed in by `app`; rows of a channel without one stay pending, visible
//! through the API.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use rand::Rng;
use uuid::Uuid;

use crate::{
    config::OutboxConfig,
    desk::Desk,
    runtime::{
        delivery::{Deliverer, Delivery},
        idle, Shutdown,
    },
    store::{self, outbox::OutboxRow},
};

const BATCH: i64 = 32;

/// One delivery attempt as a whole (a Slack share is several HTTP calls)
/// is cut after this many times `outbox.delivery_timeout_secs`, and counts
/// as a failed attempt: a hung receiver never stalls the dispatcher.
const ATTEMPT_TIMEOUTS: u32 = 3;

/// A claim outlives its attempt's cut by this much; a claim left by a
/// daemon that died is taken again once it has expired.
const LEASE_MARGIN: Duration = Duration::from_secs(15);

const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Seconds a held message (its account cannot sign in) waits at least.
const HELD_RETRY_SECS: f64 = 60.0;

#[derive(Clone)]
pub struct Dispatcher {
    desk: Desk,
    deliverers: Vec<Arc<dyn Deliverer>>,
    settings: OutboxConfig,
    /// Claimed and not yet recorded: given back if a shutdown cuts the
    /// batch short.
    in_flight: Arc<Mutex<HashSet<Uuid>>>,
    /// How long a shutdown waits for the deliveries under way.
    grace: Duration,
}

impl Dispatcher {
    /// A dispatcher for the channels of `deliverers` (`app` builds them
    /// from the configuration: this layer knows no chat platform).
    pub fn new(desk: Desk, settings: OutboxConfig, deliverers: Vec<Arc<dyn Deliverer>>) -> Self {
        Self {
            desk,
            deliverers,
            settings,
            in_flight: Arc::default(),
            grace: DEFAULT_GRACE,
        }
    }

    /// The same, waiting `grace` for the deliveries under way at shutdown
    /// (`server.shutdown_grace_secs`).
    pub fn with_grace(self, grace: Duration) -> Self {
        Self { grace, ..self }
    }

    /// How long one delivery attempt may take before it is cut.
    fn attempt_timeout(&self) -> Duration {
        Duration::from_secs(self.settings.delivery_timeout_secs.max(1)) * ATTEMPT_TIMEOUTS
    }

    /// How long a claim holds a message: the attempt and a margin.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.attempt_timeout() + LEASE_MARGIN)
            .unwrap_or(chrono::Duration::seconds(60))
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The channels delivered, in claim order.
    pub fn channels(&self) -> Vec<&'static str> {
        self.deliverers.iter().map(|d| d.channel()).collect()
    }

    /// Claims and delivers one batch of due messages; returns how many.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let now = store::now();
        let lease = self.lease();
        let mut batch = Vec::new();
        for channel in self.channels() {
            let claimed =
                store::outbox::claim_due_outbox(&self.desk.db, channel, now, now + lease, BATCH)
                    .await?;
            self.in_flight().extend(claimed.iter().map(|m| m.id));
            batch.extend(claimed);
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
            for (i, message) in group.iter().enumerate() {
                if i > 0 {
                    // The claim of those still waiting in line is extended
                    // as each turn comes, so no other daemon takes them.
                    let waiting: Vec<Uuid> = group[i..].iter().map(|m| m.id).collect();
                    store::outbox::extend_claims(&self.desk.db, &waiting, store::now() + lease)
                        .await?;
                }
                let outcome = self.deliver(message).await;
                self.record(message, outcome).await?;
                self.in_flight().remove(&message.id);
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

    /// Delivers until shutdown. A shutdown lets the deliveries under way
    /// finish within the grace, then gives the rest of the batch back (due
    /// at once, the attempt not counted) for the next daemon.
    pub async fn run(self, mut shutdown: Shutdown) {
        let grace = self.grace;
        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let wake = self.desk.outbox_ready.clone();
        while !*shutdown.borrow() {
            // Boxed, so a batch cut short is dropped (and stops) at once.
            let mut batch = Box::pin(self.run_once());
            let outcome = tokio::select! {
                outcome = &mut batch => outcome,
                _ = shutdown.changed() => match tokio::time::timeout(grace, &mut batch).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        drop(batch);
                        self.give_back().await;
                        break;
                    }
                },
            };
            match outcome {
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

    /// Gives the claims of a batch cut short back: due now, and the
    /// attempt the claim counted taken back.
    async fn give_back(&self) {
        let ids: Vec<Uuid> = self.in_flight().drain().collect();
        if ids.is_empty() {
            return;
        }
        match store::outbox::release_claims(&self.desk.db, &ids, store::now()).await {
            Ok(()) => tracing::warn!(
                messages = ids.len(),
                "shutdown: outbox deliveries still under way were given back"
            ),
            // Their claims expire by themselves within the lease.
            Err(e) => tracing::error!(error = %e, "could not give back outbox claims"),
        }
    }

    async fn deliver(&self, message: &OutboxRow) -> Delivery {
        let Some(deliverer) = self
            .deliverers
            .iter()
            .find(|d| d.channel() == message.channel)
        else {
            return Delivery::Permanent(format!("no deliverer for channel `{}`", message.channel));
        };
        let cut = self.attempt_timeout();
        match tokio::time::timeout(cut, deliverer.deliver(message)).await {
            Ok(outcome) => outcome,
            Err(_) => Delivery::Retry {
                error: format!("no answer within {} s; the attempt was cut", cut.as_secs()),
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
}
