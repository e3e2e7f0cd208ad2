//! The fault suite: the real `switchboard serve` binary under load while it
//! is killed with SIGKILL, while its database restarts or stops, while its
//! mail server or a webhook receiver is down, and as two replicas of which
//! one is killed. Every case checks, once things are back:
//!
//! * every acknowledged input exists exactly once (and nothing exists twice);
//! * ticket numbers are gap-free;
//! * `switchboard audit verify` passes;
//! * every committed notification was delivered — exactly once where no
//!   SIGKILL fell between the receiver's answer and our commit; after a
//!   SIGKILL a redelivery carries the same delivery id, and the case counts
//!   them;
//! * no answer was a 500;
//! * SIGTERM afterwards exits 0 within the shutdown grace.
//!
//! Each case prints a `fault-tally` line (inputs sent, acknowledged, found,
//! failed attempts, notifications) that RELIABILITY.md records. Everything
//! is on loopback and bounded: a case that cannot finish fails within its
//! deadlines instead of hanging.

mod database;
mod kill;
mod receivers;
mod replicas;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use sqlx::{PgPool, Row};

use crate::{
    helpers::{eventually, Receiver},
    support::{
        daemon::{cli, Daemon},
        slack,
    },
};

/// How long a client keeps retrying one input before it gives up on it.
const RETRY_FOR: Duration = Duration::from_secs(40);

/// How long recovery (leases running out, backlogs draining) may take.
const RECOVERY: Duration = Duration::from_secs(45);

/// The shutdown grace the daemons get, and what SIGTERM may take on top.
const GRACE_SECS: u64 = 5;

/// Configuration every daemon of the suite gets: fast retries, short
/// delivery timeouts (so a killed daemon's claims come due soon), a short
/// shutdown grace.
pub fn daemon_env(database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SWITCHBOARD__DATABASE__URL", database_url.to_string()),
        ("SWITCHBOARD__OUTBOX__INITIAL_BACKOFF_SECS", "0.05".into()),
        ("SWITCHBOARD__OUTBOX__MAX_BACKOFF_SECS", "0.5".into()),
        ("SWITCHBOARD__OUTBOX__POLL_INTERVAL_MS", "50".into()),
        ("SWITCHBOARD__OUTBOX__DELIVERY_TIMEOUT_SECS", "1".into()),
        ("SWITCHBOARD__OUTBOX__MAX_ATTEMPTS", "30".into()),
        (
            "SWITCHBOARD__SERVER__SHUTDOWN_GRACE_SECS",
            GRACE_SECS.to_string(),
        ),
    ]
}

/// An admin token of the `default` organization, made with the CLI as an
/// operator would before the first start.
pub fn admin_token(database_url: &str) -> String {
    let (code, token) = cli(
        database_url,
        &["token", "create", "--org", "default", "--role", "admin"],
    );
    assert_eq!(code, Some(0), "token create: {token}");
    token
}

/// What a case counted, printed for RELIABILITY.md.
#[derive(Debug, Default)]
pub struct Tally {
    pub sent: usize,
    pub acknowledged: usize,
    pub found: usize,
    /// Attempts that were not acknowledged (refused connections, 503s…).
    pub failed_attempts: usize,
    /// Notifications committed, and how many arrived more than once.
    pub notifications: usize,
    pub redelivered: usize,
}

impl Tally {
    pub fn print(&self, case: &str) {
        println!(
            "fault-tally {}",
            json!({
                "case": case,
                "sent": self.sent,
                "acknowledged": self.acknowledged,
                "found": self.found,
                "failed_attempts": self.failed_attempts,
                "notifications": self.notifications,
                "redelivered": self.redelivered,
            })
        );
    }
}

/// What the API clients saw.
#[derive(Debug, Default)]
pub struct LoadResult {
    pub sent: usize,
    /// Titles of the tickets whose creation was acknowledged (201/200).
    pub acknowledged: Vec<String>,
    pub failed_attempts: usize,
    /// Status → count of every answer that was not an acknowledgement.
    pub refusals: BTreeMap<u16, usize>,
    /// Whether every 503 carried `Retry-After` and the code
    /// `database_unavailable`.
    pub honest_503s: bool,
}

/// How the load's inputs reach the daemon.
#[derive(Clone)]
pub enum Via {
    /// `POST /api/v1/tickets` with this token and an `Idempotency-Key`.
    Api(String),
    /// A signed Events API delivery of a direct message to the bot, retried
    /// the way Slack retries (same `event_id`, `x-slack-retry-num`).
    SlackDm,
}

/// The `ts` of the direct message that input `i` of client `w` sends.
pub fn dm_ts(w: usize, i: usize) -> String {
    format!("{}.{i:06}", 1_700_000_000 + w)
}

/// The `ts` of the direct message behind a title made by [`ApiLoad`].
pub fn dm_ts_of(title: &str) -> String {
    let mut parts = title.rsplit('-');
    let i = parts
        .next()
        .and_then(|p| p.parse().ok())
        .expect("input index");
    let w = parts
        .next()
        .and_then(|p| p.parse().ok())
        .expect("client index");
    dm_ts(w, i)
}

/// Clients opening tickets as fast as they can, each input retried (on the
/// next base URL, if there are several) until it is acknowledged — what a
/// well-behaved API client does, and what Slack does with an event.
pub struct ApiLoad {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<LoadResult>>,
}

impl ApiLoad {
    pub fn start(bases: &[String], via: Via, prefix: &str, clients: usize) -> ApiLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..clients)
            .map(|w| {
                let (bases, via) = (bases.to_vec(), via.clone());
                let (prefix, stop) = (prefix.to_string(), stop.clone());
                tokio::spawn(async move { client(bases, w, via, prefix, stop).await })
            })
            .collect();
        ApiLoad { stop, workers }
    }

    /// Stops starting new inputs, lets the ones in flight finish (or give
    /// up), and adds up what the clients saw.
    pub async fn finish(self) -> LoadResult {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = LoadResult {
            honest_503s: true,
            ..LoadResult::default()
        };
        for worker in self.workers {
            let part = worker.await.expect("load client");
            total.sent += part.sent;
            total.acknowledged.extend(part.acknowledged);
            total.failed_attempts += part.failed_attempts;
            for (status, n) in part.refusals {
                *total.refusals.entry(status).or_default() += n;
            }
            total.honest_503s &= part.honest_503s;
        }
        total
    }
}

async fn client(
    bases: Vec<String>,
    w: usize,
    via: Via,
    prefix: String,
    stop: Arc<AtomicBool>,
) -> LoadResult {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut result = LoadResult {
        honest_503s: true,
        ..LoadResult::default()
    };
    let mut target = w % bases.len();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let title = format!("{prefix}-{w}-{i}");
        let event = slack::event(
            &format!("Ev{w:02}{i:06}"),
            slack::direct_message(&format!("U{w:02}"), &title, &dm_ts(w, i), None),
        );
        i += 1;
        result.sent += 1;
        let deadline = Instant::now() + RETRY_FOR;
        for attempt in 0.. {
            let request = match &via {
                Via::Api(token) => http
                    .post(format!("{}/api/v1/tickets", bases[target]))
                    .bearer_auth(token)
                    .header("Idempotency-Key", &title)
                    .json(&json!({ "kind": "incident", "title": title })),
                Via::SlackDm => {
                    let mut request = http
                        .post(format!("{}/slack/events", bases[target]))
                        .header("content-type", "application/json")
                        .body(event.clone());
                    for (name, value) in slack::signed(chrono::Utc::now().timestamp(), &event) {
                        request = request.header(name, value);
                    }
                    if attempt > 0 {
                        request = request
                            .header("x-slack-retry-num", attempt.to_string())
                            .header("x-slack-retry-reason", "http_error");
                    }
                    request
                }
            };
            let answer = request.send().await;
            match answer {
                Ok(r) if r.status().is_success() => {
                    result.acknowledged.push(title);
                    break;
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    *result.refusals.entry(status).or_default() += 1;
                    if status == 503 {
                        let retry_after = r.headers().contains_key("retry-after");
                        let body: Value = r.json().await.unwrap_or_default();
                        result.honest_503s &= retry_after && body["code"] == "database_unavailable";
                    }
                }
                Err(_) => {}
            }
            result.failed_attempts += 1;
            if Instant::now() > deadline {
                break;
            }
            target = (target + 1) % bases.len();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    result
}

/// Lets the load run for `d`.
pub async fn run_for(d: Duration) {
    tokio::time::sleep(d).await;
}

pub async fn pool(database_url: &str) -> PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(database_url)
        .await
        .expect("connect to the case's database")
}

/// Checks that every acknowledged title is a ticket exactly once and no
/// title is there twice; answers how many tickets the case made.
pub async fn each_once(db: &PgPool, prefix: &str, acknowledged: &[String]) -> usize {
    let rows =
        sqlx::query("SELECT title, count(*) AS n FROM tickets WHERE title LIKE $1 GROUP BY title")
            .bind(format!("{prefix}%"))
            .fetch_all(db)
            .await
            .expect("tickets");
    let counts: HashMap<String, i64> = rows
        .iter()
        .map(|r| (r.get::<String, _>("title"), r.get::<i64, _>("n")))
        .collect();
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "inputs stored more than once: {twice:?}");
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|t| !counts.contains_key(*t))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    counts.len()
}

/// Checks that ticket numbers run 1, 2, 3 … per organization and prefix.
pub async fn gap_free(db: &PgPool) {
    let rows = sqlx::query("SELECT org_id::text AS org, number FROM tickets")
        .fetch_all(db)
        .await
        .expect("numbers");
    let mut series: HashMap<(String, String), Vec<u64>> = HashMap::new();
    for row in rows {
        let number: String = row.get("number");
        let split = number
            .find(|c: char| c.is_ascii_digit())
            .expect("a number has digits");
        let (prefix, digits) = number.split_at(split);
        series
            .entry((row.get("org"), prefix.to_string()))
            .or_default()
            .push(digits.parse().expect("digits"));
    }
    for ((org, prefix), mut numbers) in series {
        numbers.sort_unstable();
        let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
        assert_eq!(numbers, expected, "numbers of {prefix} in {org} have a gap");
    }
}

/// `switchboard audit verify` passes.
pub fn audit_verifies(database_url: &str) {
    let (code, out) = cli(database_url, &["audit", "verify"]);
    assert_eq!(code, Some(0), "audit verify: {out}");
}

/// Every outbox row was delivered: none pending, none dead.
pub async fn outbox_drained(db: &PgPool) -> bool {
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE state <> 'delivered'")
        .fetch_one(db)
        .await
        .expect("outbox");
    open == 0
}

/// Waits until the outbox is drained; fails naming what is left.
pub async fn wait_until_drained(db: &PgPool) {
    if eventually(RECOVERY, || outbox_drained(db)).await {
        return;
    }
    let left: Vec<(String, String, i32, Option<String>)> = sqlx::query_as(
        "SELECT channel, state, attempts, last_error FROM outbox WHERE state <> 'delivered' LIMIT 10",
    )
    .fetch_all(db)
    .await
    .expect("outbox");
    panic!("the outbox did not drain: {left:?}");
}

/// A webhook receiver subscribed (through the API at `base`) to every
/// event.
pub async fn subscribed_receiver(base: &str, token: &str) -> Receiver {
    let receiver = Receiver::default();
    let addr = receiver.serve(SocketAddr::from(([127, 0, 0, 1], 0))).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(token)
        .json(&json!({ "url": format!("http://{addr}/hook") }))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(response.status(), 201, "webhook subscription");
    receiver
}

/// Every ticket of the case had its `ticket.created` webhook delivered
/// (answered 2xx); answers (delivered, delivered again after a 2xx). A repeat must carry the
/// same delivery id as the first, so a receiver can drop it.
pub async fn webhooks_delivered(db: &PgPool, receiver: &Receiver, prefix: &str) -> (usize, usize) {
    wait_until_drained(db).await;
    let numbers: HashSet<String> =
        sqlx::query_scalar("SELECT number FROM tickets WHERE title LIKE $1")
            .bind(format!("{prefix}%"))
            .fetch_all(db)
            .await
            .expect("numbers")
            .into_iter()
            .collect();
    let mut by_number: HashMap<String, HashSet<String>> = HashMap::new();
    let mut arrivals = 0;
    for received in receiver.received() {
        if received.header("switchboard-event") != "ticket.created"
            || !(200..300).contains(&received.status)
        {
            continue;
        }
        let number = received.json()["ticket"]["number"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !numbers.contains(&number) {
            continue;
        }
        arrivals += 1;
        by_number
            .entry(number)
            .or_default()
            .insert(received.header("switchboard-delivery").to_string());
    }
    let missing: Vec<_> = numbers
        .iter()
        .filter(|n| !by_number.contains_key(*n))
        .collect();
    assert!(missing.is_empty(), "tickets never announced: {missing:?}");
    let two_ids: Vec<_> = by_number.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(
        two_ids.is_empty(),
        "one event delivered under two ids: {two_ids:?}"
    );
    (numbers.len(), arrivals - numbers.len())
}

/// SIGTERM ends the daemon with status 0 within the grace (and a margin).
pub fn stops_cleanly(daemon: &mut Daemon) {
    let (status, took) = daemon.sigterm(Duration::from_secs(GRACE_SECS + 10));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM: {status:?} after {took:?}\n{}",
        daemon.log()
    );
}

/// The checks every API-load case ends with — each acknowledged input once,
/// gap-free numbers, every webhook delivered, the audit chain intact, no
/// server error, a clean SIGTERM — then its tally. Answers (delivered,
/// delivered again) for the case's own assertions.
pub async fn check_api_case(
    case: &str,
    url: &str,
    prefix: &str,
    load: &LoadResult,
    receiver: &Receiver,
    daemon: &mut Daemon,
) -> (usize, usize) {
    let db = pool(url).await;
    let found = each_once(&db, prefix, &load.acknowledged).await;
    gap_free(&db).await;
    let (notifications, redelivered) = webhooks_delivered(&db, receiver, prefix).await;
    audit_verifies(url);
    no_server_errors(load);
    stops_cleanly(daemon);
    Tally {
        sent: load.sent,
        acknowledged: load.acknowledged.len(),
        found,
        failed_attempts: load.failed_attempts,
        notifications,
        redelivered,
    }
    .print(case);
    (notifications, redelivered)
}

/// No answer was a server error other than an honest 503.
pub fn no_server_errors(load: &LoadResult) {
    let errors: Vec<_> = load
        .refusals
        .iter()
        .filter(|(status, _)| **status >= 500 && **status != 503)
        .collect();
    assert!(errors.is_empty(), "server errors: {errors:?}");
    assert!(load.honest_503s, "a 503 without Retry-After or its code");
    let client_errors: Vec<_> = load
        .refusals
        .iter()
        .filter(|(status, _)| (400..500).contains(*status) && **status != 429)
        .collect();
    assert!(
        client_errors.is_empty(),
        "inputs refused: {client_errors:?}"
    );
}
