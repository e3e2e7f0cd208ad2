//! Prometheus metrics: HTTP requests and latency by route, tickets created
//! by kind and channel, outbox depth and failures, timer lag, restarts of
//! supervised workers. Gauges that live in the database (outbox depth,
//! timer lag) are read at scrape time. Imports nothing of the project.

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TicketLabels {
    pub kind: String,
    pub channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    pub channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

/// A supervised long-running task (`dispatcher`, `scheduler`, `imap:…`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkerLabels {
    pub worker: String,
}

pub struct Metrics {
    registry: Registry,
    http_requests: Family<RouteLabels, Counter>,
    http_latency: Family<LatencyLabels, Histogram>,
    tickets_created: Family<TicketLabels, Counter>,
    ticket_number_retries: Counter,
    outbox_delivered: Family<ChannelLabels, Counter>,
    outbox_failures: Family<ChannelLabels, Counter>,
    outbox_dead: Family<ChannelLabels, Counter>,
    outbox_depth: Family<StateLabels, Gauge>,
    timers_fired: Counter,
    timer_lag: Histogram,
    timer_oldest_due_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    database_up: Gauge,
    mail_received: Family<MailLabels, Counter>,
    mail_errors: Family<MailLabels, Counter>,
    alerts: Family<MailLabels, Counter>,
    worker_restarts: Family<WorkerLabels, Counter>,
}

/// `action`: what became of a received mail (`opened`, `commented`, …) or,
/// for errors, which kind (`connect`, `auth`, `process`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MailLabels {
    pub action: String,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]
    .into_iter()
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let http_requests = Family::<RouteLabels, Counter>::default();
        let http_latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        let tickets_created = Family::<TicketLabels, Counter>::default();
        let ticket_number_retries = Counter::default();
        let outbox_delivered = Family::<ChannelLabels, Counter>::default();
        let outbox_failures = Family::<ChannelLabels, Counter>::default();
        let outbox_dead = Family::<ChannelLabels, Counter>::default();
        let outbox_depth = Family::<StateLabels, Gauge>::default();
        let timers_fired = Counter::default();
        let timer_lag = Histogram::new([0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0]);
        let timer_oldest_due_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let database_up = Gauge::default();
        registry.register(
            "database_up",
            "1 when the database answered the last probe (each /metrics scrape and /readyz) within a second, else 0",
            database_up.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            http_latency.clone(),
        );
        registry.register(
            "tickets_created",
            "Tickets created by kind and channel",
            tickets_created.clone(),
        );
        registry.register(
            "ticket_number_retries",
            "Use cases run again with the ticket counter locked after a predicted number was taken",
            ticket_number_retries.clone(),
        );
        registry.register(
            "outbox_delivered",
            "Outbox messages delivered",
            outbox_delivered.clone(),
        );
        registry.register(
            "outbox_delivery_failures",
            "Failed delivery attempts",
            outbox_failures.clone(),
        );
        registry.register(
            "outbox_dead_lettered",
            "Messages dead-lettered after the last attempt",
            outbox_dead.clone(),
        );
        registry.register(
            "outbox_messages",
            "Outbox messages by state",
            outbox_depth.clone(),
        );
        registry.register("timers_fired", "Timers handled", timers_fired.clone());
        registry.register(
            "timer_lag_seconds",
            "Delay between a timer's due time and its handling",
            timer_lag.clone(),
        );
        registry.register(
            "timer_oldest_overdue_seconds",
            "Age of the oldest timer still due (0 when none)",
            timer_oldest_due_seconds.clone(),
        );
        let mail_received = Family::<MailLabels, Counter>::default();
        let mail_errors = Family::<MailLabels, Counter>::default();
        registry.register(
            "mail_received",
            "Received mails by what became of them",
            mail_received.clone(),
        );
        registry.register(
            "mail_errors",
            "Mailbox errors by kind (connect, auth, process)",
            mail_errors.clone(),
        );
        let alerts = Family::<MailLabels, Counter>::default();
        registry.register(
            "alert_events",
            "Alert webhook events by what became of them (opened, reopened, joined, resolved, unchanged, ignored, rate_limited, refused)",
            alerts.clone(),
        );
        let worker_restarts = Family::<WorkerLabels, Counter>::default();
        registry.register(
            "worker_restarts",
            "Restarts of a long-running task after it panicked, failed or returned",
            worker_restarts.clone(),
        );
        Self {
            worker_restarts,
            alerts,
            mail_received,
            mail_errors,
            registry,
            http_requests,
            http_latency,
            tickets_created,
            ticket_number_retries,
            outbox_delivered,
            outbox_failures,
            outbox_dead,
            outbox_depth,
            timers_fired,
            timer_lag,
            timer_oldest_due_seconds,
            database_up,
        }
    }
}

impl Metrics {
    pub fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&RouteLabels {
                method: method.into(),
                route: route.into(),
                status,
            })
            .inc();
        self.http_latency
            .get_or_create(&LatencyLabels {
                method: method.into(),
                route: route.into(),
            })
            .observe(seconds);
    }

    pub fn ticket_created(&self, kind: &str, channel: &str) {
        self.tickets_created
            .get_or_create(&TicketLabels {
                kind: kind.into(),
                channel: channel.into(),
            })
            .inc();
    }

    pub fn ticket_number_retried(&self) {
        self.ticket_number_retries.inc();
    }

    /// How many use cases ran again after a wrong ticket number prediction.
    pub fn ticket_number_retries(&self) -> u64 {
        self.ticket_number_retries.get()
    }

    pub fn outbox_delivered(&self, channel: &str) {
        self.outbox_delivered
            .get_or_create(&ChannelLabels {
                channel: channel.into(),
            })
            .inc();
    }

    pub fn outbox_failed(&self, channel: &str) {
        self.outbox_failures
            .get_or_create(&ChannelLabels {
                channel: channel.into(),
            })
            .inc();
    }

    pub fn outbox_dead(&self, channel: &str) {
        self.outbox_dead
            .get_or_create(&ChannelLabels {
                channel: channel.into(),
            })
            .inc();
    }

    pub fn mail_received(&self, action: &str) {
        self.mail_received
            .get_or_create(&MailLabels {
                action: action.into(),
            })
            .inc();
    }

    pub fn mail_error(&self, kind: &str) {
        self.mail_errors
            .get_or_create(&MailLabels {
                action: kind.into(),
            })
            .inc();
    }

    /// What became of an alert webhook event.
    pub fn alert_event(&self, action: &str) {
        self.alerts
            .get_or_create(&MailLabels {
                action: action.into(),
            })
            .inc();
    }

    /// Makes a worker's restart counter exist (at 0) before any restart.
    pub fn worker_started(&self, worker: &str) {
        drop(self.worker_restarts.get_or_create(&WorkerLabels {
            worker: worker.into(),
        }));
    }

    pub fn worker_restarted(&self, worker: &str) {
        self.worker_restarts
            .get_or_create(&WorkerLabels {
                worker: worker.into(),
            })
            .inc();
    }

    /// How often `worker` was restarted.
    pub fn worker_restarts(&self, worker: &str) -> u64 {
        self.worker_restarts
            .get_or_create(&WorkerLabels {
                worker: worker.into(),
            })
            .get()
    }

    pub fn timer_fired(&self, lag_seconds: f64) {
        self.timers_fired.inc();
        self.timer_lag.observe(lag_seconds);
    }

    /// Sets the gauges read from the database just before a scrape.
    pub fn set_outbox_depth(&self, counts: &[(String, i64)]) {
        for state in ["pending", "delivered", "dead"] {
            let n = counts
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            self.outbox_depth
                .get_or_create(&StateLabels {
                    state: state.into(),
                })
                .set(n);
        }
    }

    pub fn set_database_up(&self, up: bool) {
        self.database_up.set(i64::from(up));
    }

    pub fn set_oldest_overdue(&self, seconds: f64) {
        self.timer_oldest_due_seconds.set(seconds);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
