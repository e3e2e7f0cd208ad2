//! Socket Mode: for installations that cannot expose public endpoints.
//! `apps.connections.open` (with the app-level token) gives a WebSocket URL;
//! Slack sends envelopes (`events_api`, `slash_commands`, `interactive`)
//! over it, each answered with `{"envelope_id": …}` — plus the payload a
//! command or modal submission answers with — once the same handling as
//! the HTTP endpoints has committed. An envelope whose handling could not
//! be recorded is not acknowledged, so Slack sends it again.
//!
//! Keeping the link alive: we ping every `slack.socket_ping_interval_ms`,
//! and a connection on which nothing arrives for
//! `slack.socket_read_timeout_ms` is dead (a half-open TCP connection
//! says nothing otherwise) and is replaced. On `disconnect` `warning` or
//! `refresh_requested` the next connection is opened *before* the old one
//! closes, and the old one is still read until Slack closes it (at most
//! [`RETIRE_AFTER`]), so no envelope sent in between is missed. On
//! `link_disabled` (Socket Mode turned off for the app) we log an error and
//! wait `slack.socket_link_disabled_retry_secs`; failed attempts back off.

use std::{sync::Arc, time::Duration};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::{net::TcpStream, sync::mpsc, time::Instant};
use tokio_tungstenite::tungstenite::Message;

use super::{api::ApiFailure, inbound::Reply, inbound::Slack};
use crate::runtime::{tls, Shutdown};

/// Backoff between failed connection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// How long a connection Slack asked us to leave is still read.
pub const RETIRE_AFTER: Duration = Duration::from_secs(30);

/// What a connection's task tells the loop that owns them.
enum Report {
    /// Slack sent `disconnect` with this reason.
    Disconnect(u64, String),
    /// The connection ended (closed, broken, silent too long).
    Ended(u64, Option<String>),
}

/// The timing of the link, from `[slack]`.
#[derive(Clone, Copy)]
struct Timing {
    ping: Duration,
    read_timeout: Duration,
    link_disabled_retry: Duration,
}

/// Runs Socket Mode until shutdown.
pub async fn run(slack: Slack, mut shutdown: Shutdown) {
    let timing = Timing {
        ping: Duration::from_millis(slack.settings.socket_ping_interval_ms.max(10)),
        read_timeout: Duration::from_millis(slack.settings.socket_read_timeout_ms.max(10)),
        link_disabled_retry: Duration::from_secs(slack.settings.socket_link_disabled_retry_secs),
    };
    let (reports, mut reported) = mpsc::unbounded_channel::<Report>();
    let mut backoff = BACKOFF_MIN;
    let mut next_id = 0u64;
    // The connection new envelopes are expected on; `None`: open one.
    let mut current: Option<(u64, Instant)> = None;
    let mut tasks = Vec::new();
    while !*shutdown.borrow() {
        if current.is_none() {
            next_id += 1;
            match connect(&slack).await {
                Ok(socket) => {
                    tracing::info!(connection = next_id, "Slack Socket Mode: connection opened");
                    current = Some((next_id, Instant::now()));
                    tasks.push(tokio::spawn(serve(
                        slack.clone(),
                        socket,
                        next_id,
                        timing,
                        reports.clone(),
                        shutdown.clone(),
                    )));
                    tasks.retain(|t| !t.is_finished());
                }
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), ?backoff, "Slack Socket Mode connection failed");
                    if pause(&mut shutdown, backoff).await {
                        break;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            }
        }
        let report = tokio::select! {
            report = reported.recv() => report,
            _ = shutdown.changed() => break,
        };
        let Some(report) = report else { break };
        let is_current = |id: u64| current.is_some_and(|(c, _)| c == id);
        match report {
            Report::Disconnect(id, reason) if is_current(id) => {
                if reason == "link_disabled" {
                    tracing::error!(retry_in = ?timing.link_disabled_retry,
                        "Slack disabled Socket Mode for this app (disconnect: link_disabled); turn it on again under the app's Socket Mode settings");
                    current = None;
                    if pause(&mut shutdown, timing.link_disabled_retry).await {
                        break;
                    }
                } else {
                    // Open the next one now; the old one is read until it closes.
                    tracing::info!(%reason, "Slack asked to reconnect; opening the next connection");
                    current = None;
                }
            }
            Report::Ended(id, error) if is_current(id) => {
                let lived = current.map(|(_, at)| at.elapsed()).unwrap_or_default();
                current = None;
                tracing::info!(?error, "Slack Socket Mode connection ended; reconnecting");
                if lived > Duration::from_secs(30) {
                    backoff = BACKOFF_MIN;
                } else {
                    if pause(&mut shutdown, backoff).await {
                        break;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
            // A retired connection's news changes nothing.
            _ => {}
        }
    }
    // The tasks see the shutdown too and close their sockets.
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
}

/// Sleeps `dur`; `true` when shutdown came first.
async fn pause(shutdown: &mut Shutdown, dur: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(dur) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

async fn open_url(slack: &Slack) -> anyhow::Result<String> {
    let answer = slack
        .api
        .call_with_app_token("apps.connections.open")
        .await
        .map_err(|f| match f {
            ApiFailure::Retry { error, .. } | ApiFailure::Permanent(error) => {
                anyhow::anyhow!(error)
            }
        })?;
    answer["url"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| anyhow::anyhow!("apps.connections.open gave no url"))
}

/// A connected socket, TLS or (for tests) plain.
type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(slack: &Slack) -> anyhow::Result<Socket> {
    use anyhow::Context;
    let url = open_url(slack).await?;
    let parsed = url::Url::parse(&url)?;
    let host = parsed
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("Socket Mode URL without a host"))?
        .to_string();
    let secure = parsed.scheme() == "wss";
    let port = parsed.port().unwrap_or(if secure { 443 } else { 80 });
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        TcpStream::connect((host.as_str(), port)),
    )
    .await
    .context("connecting to Slack timed out")??;
    tcp.set_nodelay(true)?;
    let stream = if secure {
        tokio_tungstenite::MaybeTlsStream::Rustls(tls::connect(&host, tcp).await?)
    } else {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp)
    };
    let (socket, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async(url.as_str(), stream),
    )
    .await
    .context("the Socket Mode handshake timed out")??;
    Ok(socket)
}

/// Reads one connection until it closes, goes silent, or shutdown.
async fn serve(
    slack: Slack,
    socket: Socket,
    id: u64,
    timing: Timing,
    reports: mpsc::UnboundedSender<Report>,
    mut shutdown: Shutdown,
) {
    let (sink, mut stream) = socket.split();
    let sink = Arc::new(tokio::sync::Mutex::new(sink));
    let mut ping = tokio::time::interval(timing.ping);
    ping.tick().await;
    let mut heard = Instant::now();
    // Set once Slack asked us to leave: read on until then.
    let mut retire_at: Option<Instant> = None;
    let ended = loop {
        let deadline = retire_at.map_or(heard + timing.read_timeout, |r| {
            r.min(heard + timing.read_timeout)
        });
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = ping.tick() => {
                if let Err(error) = sink.lock().await.send(Message::Ping(Vec::new().into())).await {
                    break Some(format!("ping failed: {error}"));
                }
                continue;
            }
            _ = tokio::time::sleep_until(deadline) => {
                if retire_at.is_some_and(|r| Instant::now() >= r) {
                    break None;
                }
                break Some(format!("nothing received for {:?}: a dead connection", timing.read_timeout));
            }
            _ = shutdown.changed() => {
                let _ = sink.lock().await.send(Message::Close(None)).await;
                return;
            }
        };
        heard = Instant::now();
        let text = match frame {
            None => break None,
            Some(Err(error)) => break Some(error.to_string()),
            Some(Ok(Message::Text(text))) => text.to_string(),
            Some(Ok(Message::Close(_))) => break None,
            // Pings are answered by tungstenite; pongs only say the link lives.
            Some(Ok(_)) => continue,
        };
        let Ok(envelope) = serde_json::from_str::<Value>(&text) else {
            tracing::debug!("ignoring a malformed Socket Mode frame");
            continue;
        };
        match envelope["type"].as_str() {
            Some("hello") => tracing::info!(connection = id, "Slack Socket Mode connected"),
            Some("disconnect") => {
                let reason = envelope["reason"].as_str().unwrap_or("unknown").to_string();
                if reason == "link_disabled" {
                    let _ = reports.send(Report::Disconnect(id, reason));
                    let _ = sink.lock().await.send(Message::Close(None)).await;
                    return;
                }
                if retire_at.is_none() {
                    retire_at = Some(Instant::now() + RETIRE_AFTER);
                    let _ = reports.send(Report::Disconnect(id, reason));
                }
            }
            _ => {
                // Envelopes are handled concurrently, like HTTP requests,
                // and acknowledged on the connection they came on.
                let slack = slack.clone();
                let sink = sink.clone();
                tokio::spawn(async move {
                    if let Some(ack) = handle(&slack, &envelope).await {
                        let sent = sink
                            .lock()
                            .await
                            .send(Message::Text(ack.to_string().into()))
                            .await;
                        if let Err(error) = sent {
                            tracing::warn!(%error, "could not acknowledge a Socket Mode envelope");
                        }
                    }
                });
            }
        }
    };
    // A half-open link may never take the close frame.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        sink.lock().await.send(Message::Close(None)).await
    })
    .await;
    let _ = reports.send(Report::Ended(id, ended));
}

/// Handles one envelope like the matching HTTP endpoint; the ack to send,
/// or none when it could not be recorded (Slack will send it again).
pub async fn handle(slack: &Slack, envelope: &Value) -> Option<Value> {
    let id = envelope["envelope_id"].as_str()?;
    let payload = &envelope["payload"];
    let bytes = payload.to_string().into_bytes();
    let reply = match envelope["type"].as_str() {
        Some("events_api") => {
            let first_delivery = envelope["retry_attempt"].as_u64().unwrap_or(0) == 0;
            slack.event(&bytes, first_delivery).await
        }
        Some("slash_commands") => {
            let fields: Vec<(String, String)> = payload
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| {
                            let v = v
                                .as_str()
                                .map(String::from)
                                .unwrap_or_else(|| v.to_string());
                            (k.clone(), v)
                        })
                        .collect()
                })
                .unwrap_or_default();
            slack.command(&fields, &bytes).await
        }
        Some("interactive") => slack.interaction(&payload.to_string(), &bytes).await,
        other => {
            tracing::debug!(kind = ?other, "ignoring a Socket Mode envelope");
            Reply::Ack
        }
    };
    match reply {
        Reply::Retry => None,
        Reply::Json(body) if body.get("error").is_none() => {
            Some(json!({ "envelope_id": id, "payload": body }))
        }
        _ => Some(json!({ "envelope_id": id })),
    }
}
