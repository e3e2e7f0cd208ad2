//! Supervision of the daemon's long-running tasks (dispatcher, scheduler,
//! mailboxes, the Discord gateway, Slack Socket Mode). Each loop watches the
//! shutdown signal and returns only when it is given; so a loop that panics,
//! fails or returns while the daemon is not shutting down is a fault: it is
//! logged with its cause, counted (`switchboard_worker_restarts_total`) and
//! started again after an exponential backoff that a healthy run resets.
//! A worker that keeps failing is reported by [`Health::failing`], which
//! `/readyz` answers with — a dead dispatcher must not look ready.
//!
//! Each run is its own task, so a panic ends that run only (tokio catches
//! it in the run's join handle) and the supervisor carries on.

use std::{
    collections::{BTreeMap, VecDeque},
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{task::JoinHandle, time::Instant};

use super::Shutdown;
use crate::metrics::Metrics;

/// How restarts are paced and when a worker counts as failing.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The wait before the first restart; doubled for each further one.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// A run at least this long was healthy: the next failure waits
    /// `first_backoff` again.
    pub healthy_after: Duration,
    /// This many failures within `window` make a worker failing.
    pub failing_after: usize,
    pub window: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            healthy_after: Duration::from_secs(60),
            failing_after: 3,
            window: Duration::from_secs(300),
        }
    }
}

impl Policy {
    /// The wait before the next restart, after a run of `ran_for` that
    /// followed a wait of `previous` (none before the first restart).
    pub fn next_backoff(&self, previous: Option<Duration>, ran_for: Duration) -> Duration {
        match previous {
            Some(wait) if ran_for < self.healthy_after => (wait * 2).min(self.max_backoff),
            _ => self.first_backoff.min(self.max_backoff),
        }
    }
}

/// The recent failures of every supervised worker, shared with `/readyz`.
#[derive(Clone, Default)]
pub struct Health {
    policy: Policy,
    failures: Arc<Mutex<BTreeMap<String, VecDeque<Instant>>>>,
}

/// A worker that keeps failing, as `/readyz` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    pub worker: String,
    /// Failures within the policy's window.
    pub failures: usize,
    pub window: Duration,
}

impl std::fmt::Display for Failing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "worker {} keeps failing: {} failures in the last {} s",
            self.worker,
            self.failures,
            self.window.as_secs()
        )
    }
}

impl Health {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            failures: Arc::default(),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn failed(&self, worker: &str, at: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let times = failures.entry(worker.to_string()).or_default();
        times.push_back(at);
        Self::forget_old(times, at, self.policy.window);
    }

    fn forget_old(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            times.pop_front();
        }
    }

    /// The workers that failed `failing_after` times or more within the
    /// window, by name.
    pub fn failing(&self) -> Vec<Failing> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .iter_mut()
            .filter_map(|(worker, times)| {
                Self::forget_old(times, now, self.policy.window);
                (times.len() >= self.policy.failing_after).then(|| Failing {
                    worker: worker.clone(),
                    failures: times.len(),
                    window: self.policy.window,
                })
            })
            .collect()
    }
}

/// Starts workers under supervision until shutdown is signalled.
pub struct Supervisor {
    health: Health,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
}

impl Supervisor {
    pub fn new(health: Health, metrics: Arc<Metrics>, shutdown: Shutdown) -> Self {
        Self {
            health,
            metrics,
            shutdown,
        }
    }

    /// Runs `start()` as worker `name`, again after each fault, until
    /// shutdown; the handle completes when the last run has returned.
    pub fn spawn<F, Fut>(&self, name: &str, mut start: F) -> JoinHandle<()>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let name = name.to_string();
        let health = self.health.clone();
        let metrics = self.metrics.clone();
        let mut shutdown = self.shutdown.clone();
        // Shown as 0 from the start, so a dashboard has a series to watch.
        metrics.worker_started(&name);
        tokio::spawn(async move {
            let policy = health.policy().clone();
            let mut backoff = None;
            loop {
                let started = Instant::now();
                let outcome = tokio::spawn(start()).await;
                let stopping = *shutdown.borrow();
                let cause = match outcome {
                    Ok(Ok(())) if stopping => return,
                    Ok(Ok(())) => "returned while the daemon was not shutting down".to_string(),
                    Ok(Err(error)) => format!("failed: {error:#}"),
                    Err(join) if join.is_panic() => {
                        format!("panicked: {}", panic_message(join.into_panic()))
                    }
                    Err(join) => format!("was cancelled: {join}"),
                };
                if stopping {
                    tracing::error!(worker = %name, %cause, "worker stopped badly during shutdown");
                    return;
                }
                let wait = policy.next_backoff(backoff, started.elapsed());
                backoff = Some(wait);
                health.failed(&name, Instant::now());
                tracing::error!(worker = %name, %cause, restart_in = ?wait, "worker stopped; restarting it");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    // A dropped sender is a shutdown too: nobody can signal one any more.
                    _ = shutdown.changed() => return,
                }
                if *shutdown.borrow() {
                    return;
                }
                metrics.worker_restarted(&name);
            }
        })
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(text) => (*text).to_string(),
            Err(_) => "a panic without a message".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn quick() -> Policy {
        Policy {
            first_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            healthy_after: Duration::from_secs(30),
            failing_after: 3,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap_and_a_healthy_run_resets_it() {
        let policy = Policy::default();
        let short = Duration::from_millis(5);
        let mut wait = None;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let next = policy.next_backoff(wait, short);
            waits.push(next.as_secs());
            wait = Some(next);
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(
            policy.next_backoff(wait, Duration::from_secs(61)),
            Duration::from_secs(1)
        );
    }

    /// A worker that panics three times, then runs until shutdown.
    #[tokio::test]
    async fn a_panicking_worker_is_restarted_counted_and_reported_until_it_stops_at_shutdown() {
        let metrics = Arc::new(Metrics::default());
        let health = Health::new(quick());
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let supervisor = Supervisor::new(health.clone(), metrics.clone(), shutdown.clone());
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let task = supervisor.spawn("flaky", move || {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            let mut shutdown = shutdown.clone();
            async move {
                if run < 3 {
                    panic!("run {run} went wrong");
                }
                let _ = shutdown.wait_for(|stop| *stop).await;
                Ok(())
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 4 {
            assert!(Instant::now() < deadline, "not restarted in time");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(metrics.worker_restarts("flaky"), 3);
        assert_eq!(
            health.failing(),
            [Failing {
                worker: "flaky".into(),
                failures: 3,
                window: Duration::from_secs(60),
            }]
        );
        assert!(metrics
            .render()
            .contains("switchboard_worker_restarts_total{worker=\"flaky\"} 3"));

        stop.send(true).expect("signal");
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops promptly")
            .expect("supervisor task");
        assert_eq!(runs.load(Ordering::SeqCst), 4, "no restart at shutdown");
    }

    #[tokio::test]
    async fn a_worker_that_returns_or_fails_is_restarted_but_failing_only_when_it_keeps_failing() {
        let metrics = Arc::new(Metrics::default());
        let health = Health::new(quick());
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let supervisor = Supervisor::new(health.clone(), metrics.clone(), shutdown.clone());
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let task = supervisor.spawn("quitter", move || {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            let mut shutdown = shutdown.clone();
            async move {
                match run {
                    0 => Ok(()),
                    1 => Err(anyhow::anyhow!("the database went away")),
                    _ => {
                        let _ = shutdown.wait_for(|stop| *stop).await;
                        Ok(())
                    }
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 3 {
            assert!(Instant::now() < deadline, "not restarted in time");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(metrics.worker_restarts("quitter"), 2);
        assert!(health.failing().is_empty(), "two failures are not three");
        stop.send(true).expect("signal");
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops promptly")
            .expect("supervisor task");
    }

    #[tokio::test]
    async fn shutdown_during_a_backoff_ends_the_supervisor_at_once() {
        let metrics = Arc::new(Metrics::default());
        let policy = Policy {
            first_backoff: Duration::from_secs(3600),
            max_backoff: Duration::from_secs(3600),
            ..quick()
        };
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let supervisor = Supervisor::new(Health::new(policy), metrics.clone(), shutdown);
        let task = supervisor.spawn("broken", || async { anyhow::bail!("cannot start") });
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.send(true).expect("signal");
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("not waiting out the backoff")
            .expect("supervisor task");
        assert_eq!(metrics.worker_restarts("broken"), 0);
    }
}
