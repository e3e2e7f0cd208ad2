//! `switchboard bench`: a closed-loop HTTP load generator for the API.
//! N clients each send requests back to back for a fixed time; the report
//! gives throughput and latency percentiles. Results go in BENCHMARKS.md.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Base URL of a running daemon.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Admin API token (`switchboard token create --org default --role admin`).
    #[arg(long, env = "SWITCHBOARD_TOKEN", default_value = "")]
    pub token: String,
    /// `create` (POST /api/v1/tickets), `get` (GET /api/v1/tickets/{number}),
    /// `impact` (GET /api/v1/cmdb/cis/{ci}/impact?depth=N), `slack`
    /// (signed direct-message events to POST /slack/events, each a new ticket),
    /// `discord` (signed modal submissions to POST /discord/interactions, each
    /// a new ticket; see benches/discord.sh), `alertmanager` (Alertmanager
    /// notifications of `--alerts` alerts to POST /hooks/alertmanager/{id};
    /// see benches/alerts.sh), `email` (ingest from `email.imap_url` into the configured database;
    /// see benches/email.sh), `reports` (the reports on a seeded history) or
    /// `console` (the web console's queue and ticket pages on a seeded history).
    #[arg(long, default_value = "create")]
    pub scenario: String,
    /// For `impact`: the CI to analyse (id).
    #[arg(long)]
    pub ci: Option<String>,
    /// For `impact`: hops to follow.
    #[arg(long, default_value_t = 5)]
    pub depth: u32,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// For `email`: messages to put in the mailbox and take in.
    #[arg(long, default_value_t = 5000)]
    pub messages: usize,
    /// For `email`: put the `.eml` files of this directory in the mailbox
    /// (in name order) instead of generated messages; `--messages` is then
    /// ignored. For a corpus shaped like a real mailbox.
    #[arg(long)]
    pub corpus: Option<std::path::PathBuf>,
    /// Seconds to run (after a 2 s warm-up).
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Requests per second for all clients together (open loop); 0 sends
    /// back to back.
    #[arg(long, default_value_t = 0)]
    pub rate: u32,
    /// For `slack`: the daemon's `slack.signing_secret`.
    #[arg(long, env = "SWITCHBOARD__SLACK__SIGNING_SECRET")]
    pub slack_secret: Option<String>,
    /// For `discord`: the hex Ed25519 secret seed whose public key is the
    /// daemon's `discord.public_key`.
    #[arg(long, env = "SWITCHBOARD_BENCH_DISCORD_SEED")]
    pub discord_seed: Option<String>,
    /// For `alertmanager`: alerts per notification.
    #[arg(long, default_value_t = 10)]
    pub alerts: usize,
    /// For `alertmanager`: groups the notifications cycle over (each post
    /// then updates its group's incident, one alert flipping between firing
    /// and resolved); 0 makes every post a new group, so a new incident.
    #[arg(long, default_value_t = 0)]
    pub groups: u64,
}

/// An Alertmanager notification (version 4) of `alerts` alerts of one group;
/// `flip` resolves one of them, so a repeat still changes something.
fn alertmanager_notification(group: &str, alerts: usize, flip: Option<usize>) -> String {
    let now = chrono::Utc::now().to_rfc3339();
    let alerts: Vec<serde_json::Value> = (0..alerts)
        .map(|j| {
            let resolved = flip == Some(j);
            json!({
                "status": if resolved { "resolved" } else { "firing" },
                "labels": { "alertname": group, "instance": format!("host-{j}"), "severity": "warning" },
                "annotations": { "summary": format!("{group} on host-{j}") },
                "startsAt": now, "endsAt": if resolved { now.as_str() } else { "0001-01-01T00:00:00Z" },
                "generatorURL": "http://prometheus.bench/graph", "fingerprint": format!("{group}-{j}"),
            })
        })
        .collect();
    json!({
        "version": "4", "groupKey": format!("{{}}:{{alertname=\"{group}\"}}"), "truncatedAlerts": 0,
        "status": "firing", "receiver": "switchboard", "groupLabels": { "alertname": group },
        "commonLabels": { "alertname": group, "severity": "warning" },
        "commonAnnotations": {}, "externalURL": "http://alertmanager.bench", "alerts": alerts,
    })
    .to_string()
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let base = args.url.trim_end_matches('/').to_string();
    let auth = format!("Bearer {}", args.token);
    // One ticket to read in the `get` scenario.
    let seed: serde_json::Value = client
        .post(format!("{base}/api/v1/tickets"))
        .header("authorization", &auth)
        .json(&json!({ "kind": "incident", "title": "bench seed" }))
        .send()
        .await
        .context("reaching the daemon")?
        .error_for_status()?
        .json()
        .await?;
    let number = seed["number"]
        .as_str()
        .context("seed ticket has a number")?
        .to_string();
    let slack_secret = match args.scenario.as_str() {
        "slack" => Some(
            args.slack_secret
                .clone()
                .context("--slack-secret is needed for the slack scenario")?,
        ),
        _ => None,
    };
    let discord_seed: Option<[u8; 32]> = match args.scenario.as_str() {
        "discord" => Some(
            args.discord_seed
                .as_deref()
                .and_then(|h| hex::decode(h.trim()).ok())
                .and_then(|b| b.try_into().ok())
                .context("--discord-seed (64 hex digits) is needed for the discord scenario")?,
        ),
        _ => None,
    };
    // For `alertmanager`: an integration of its own, its limit out of the way.
    let alert_hook = match args.scenario.as_str() {
        "alertmanager" => {
            let integration: serde_json::Value = client
                .post(format!("{base}/api/v1/integrations"))
                .header("authorization", &auth)
                .json(
                    &json!({ "name": format!("bench {}", chrono::Utc::now().timestamp_millis()),
                               "kind": "alertmanager",
                               "settings": { "rate_limit_per_minute": 100_000_000 } }),
                )
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let id = integration["id"].as_str().context("integration id")?;
            let secret = integration["token"].as_str().context("integration token")?;
            Some((
                format!("{base}/hooks/alertmanager/{id}"),
                format!("Bearer {secret}"),
            ))
        }
        _ => None,
    };
    let run_id = chrono::Utc::now().timestamp_millis();
    let (alerts, groups) = (args.alerts, args.groups);
    let (create, read_url) = match args.scenario.as_str() {
        "create" | "slack" | "discord" | "alertmanager" => (true, String::new()),
        "get" => (false, format!("{base}/api/v1/tickets/{number}")),
        "impact" => {
            let ci = args
                .ci
                .as_deref()
                .context("--ci is needed for the impact scenario")?;
            (
                false,
                format!("{base}/api/v1/cmdb/cis/{ci}/impact?depth={}", args.depth),
            )
        }
        other => anyhow::bail!(
            "unknown scenario `{other}`; expected create, get, impact, slack, discord, alertmanager or email"
        ),
    };

    let warmup = Instant::now() + Duration::from_secs(2);
    let end = warmup + Duration::from_secs(args.seconds);
    let mut clients = Vec::new();
    // Open loop: client `w` sends its k-th request at start + (k·N + w)/rate.
    let interval = (args.rate > 0).then(|| Duration::from_secs(1) / args.rate);
    let start = Instant::now();
    for worker in 0..args.concurrency {
        let (client, base, auth, read_url) =
            (client.clone(), base.clone(), auth.clone(), read_url.clone());
        let slack_secret = slack_secret.clone();
        let alert_hook = alert_hook.clone();
        let concurrency = args.concurrency as u32;
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut i = 0u64;
            loop {
                if let Some(interval) = interval {
                    let slot = start + interval * (i as u32 * concurrency + worker as u32);
                    tokio::time::sleep_until(slot.into()).await;
                }
                let started = Instant::now();
                if started >= end {
                    break;
                }
                // The integration's secret for the alert hook, else the admin token.
                let mut credentials = auth.as_str();
                let request = if let Some((hook, secret)) = &alert_hook {
                    let n = i * u64::from(concurrency) + worker as u64;
                    let (group, flip) = match groups {
                        0 => (format!("Bench{run_id}-{n}"), None),
                        g => (
                            format!("Bench{run_id}-{}", n % g),
                            Some((n / g) as usize % alerts.max(1)),
                        ),
                    };
                    credentials = secret;
                    client
                        .post(hook)
                        .header("content-type", "application/json")
                        .body(alertmanager_notification(&group, alerts, flip))
                } else if let Some(secret) = &slack_secret {
                    let body = json!({
                        "type": "event_callback", "team_id": "TBENCH", "api_app_id": "ABENCH",
                        "event_time": chrono::Utc::now().timestamp(),
                        "event_id": format!("EvBench{worker}-{i}-{}", start.elapsed().as_nanos()),
                        "event": { "type": "message", "channel_type": "im", "channel": format!("DBENCH{worker}"),
                                   "user": format!("UBENCH{worker}"), "text": format!("bench {worker}-{i}"), "ts": format!("{}.{i:06}", 1_700_000_000 + worker) },
                    })
                    .to_string();
                    let ts = chrono::Utc::now().timestamp().to_string();
                    client
                        .post(format!("{base}/slack/events"))
                        .header("content-type", "application/json")
                        .header("x-slack-request-timestamp", &ts)
                        .header("x-slack-signature", crate::channels::slack::verify::sign(secret, &ts, body.as_bytes()))
                        .body(body)
                } else if let Some(seed) = &discord_seed {
                    let body = discord_interaction(worker, i, start.elapsed().as_nanos());
                    let ts = chrono::Utc::now().timestamp().to_string();
                    client
                        .post(format!("{base}/discord/interactions"))
                        .header("content-type", "application/json")
                        .header("x-signature-timestamp", &ts)
                        .header(
                            "x-signature-ed25519",
                            crate::channels::discord::verify::sign(seed, &ts, body.as_bytes()),
                        )
                        .body(body)
                } else if create {
                    client
                        .post(format!("{base}/api/v1/tickets"))
                        .json(&json!({ "kind": "incident", "title": format!("bench {worker}-{i}"), "impact": "low", "urgency": "medium" }))
                } else {
                    client.get(&read_url)
                };
                let ok = match request.header("authorization", credentials).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                i += 1;
                if started < warmup {
                    continue;
                }
                if ok {
                    latencies.push(started.elapsed());
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for c in clients {
        let (l, e) = c.await?;
        all.extend(l);
        errors += e;
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "scenario={} concurrency={} seconds={} requests={} errors={} throughput={:.0}/s p50={:.2}ms p95={:.2}ms p99={:.2}ms max={:.2}ms",
        args.scenario,
        args.concurrency,
        args.seconds,
        all.len(),
        errors,
        all.len() as f64 / args.seconds as f64,
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.95).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        all.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    Ok(())
}

/// A `/ticket` modal submission as Discord sends it, from one user per client.
fn discord_interaction(worker: usize, i: u64, nanos: u128) -> String {
    let user = format!("{}", 3_100_000_000_000_000_000u64 + worker as u64);
    // A snowflake (a u64, as the edge checks) unique per request: the
    // worker, then the nanoseconds since the run started.
    let id = 2_100_000_000_000_000_000u64
        + (worker as u64 % 1000) * 1_000_000_000_000_000
        + u64::try_from(nanos % 1_000_000_000_000_000).unwrap_or_default();
    json!({
        "id": id.to_string(), "application_id": "1100000000000000001", "type": 5,
        "token": "bench", "version": 1, "guild_id": "1200000000000000001", "channel_id": "1300000000000000001",
        "attachment_size_limit": 10485760, "app_permissions": "0", "entitlements": [], "locale": "en-US",
        "authorizing_integration_owners": { "0": "1200000000000000001" },
        "member": { "user": { "id": user, "username": format!("bench{worker}"), "discriminator": "0", "avatar": null },
                    "roles": [], "permissions": "0", "joined_at": "2024-01-01T00:00:00+00:00", "deaf": false, "mute": false, "flags": 0 },
        "data": { "custom_id": "ticket_modal", "components": [
            { "type": 1, "id": 1, "components": [{ "type": 4, "id": 2, "custom_id": "title", "value": format!("bench {worker}-{i}") }] },
            { "type": 1, "id": 3, "components": [{ "type": 4, "id": 4, "custom_id": "description", "value": "load test" }] },
            { "type": 18, "id": 5, "component": { "type": 3, "id": 6, "custom_id": "urgency", "values": ["low"] } } ] },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The load's interaction is one the Discord edge takes, not a 400.
    #[test]
    fn the_bench_discord_interaction_parses() {
        let body = discord_interaction(7, 3, 123_456_789);
        let interaction = crate::channels::discord::payload::parse_interaction(body.as_bytes())
            .expect("a real-format interaction");
        assert_eq!(interaction.id.get(), 2_107_000_000_123_456_789);
    }
}
