//! Socket Mode: for installations that cannot expose public endpoints.
//! `apps.connections.open` (with the app-level token) gives a WebSocket URL;
//! Slack sends envelopes (`events_api`, `slash_commands`, `interactive`)
//! over it, each answered with `{"envelope_id": …}` — plus the payload a
//! command or modal submission answers with — once the same handling as
//! the HTTP endpoints has committed. An envelope whose handling could not
//! be recorded is not acknowledged, so Slack sends it again. On
//! `disconnect` (Slack refreshes connections every few hours) or a broken
//! connection we open a new one, with backoff when opening fails.

use std::{sync::Arc, time::Duration};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use super::{api::ApiFailure, inbound::Reply, inbound::Slack};
use crate::runtime::{tls, Shutdown};

/// Backoff between failed connection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Why a connection ended.
enum Ended {
    /// Slack asked us to reconnect (or the socket closed): open a new one at once.
    Reconnect,
    /// We are shutting down.
    Shutdown,
}

/// Runs Socket Mode until shutdown.
pub async fn run(slack: Slack, mut shutdown: Shutdown) {
    let mut backoff = BACKOFF_MIN;
    while !*shutdown.borrow() {
        let started = tokio::time::Instant::now();
        match connect_once(&slack, &mut shutdown).await {
            Ok(Ended::Shutdown) => return,
            Ok(Ended::Reconnect) => {
                // A connection that lived a while earned a fresh backoff.
                if started.elapsed() > Duration::from_secs(30) {
                    backoff = BACKOFF_MIN;
                }
                tracing::info!("Slack Socket Mode: reconnecting");
            }
            Err(error) => {
                tracing::warn!(%error, ?backoff, "Slack Socket Mode connection failed");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
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

async fn connect_once(slack: &Slack, shutdown: &mut Shutdown) -> anyhow::Result<Ended> {
    let url = open_url(slack).await?;
    let parsed = url::Url::parse(&url)?;
    let host = parsed
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("Socket Mode URL without a host"))?
        .to_string();
    let secure = parsed.scheme() == "wss";
    let port = parsed.port().unwrap_or(if secure { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port)).await?;
    tcp.set_nodelay(true)?;
    if secure {
        let tls = tls::connect(&host, tcp).await?;
        let (socket, _) = tokio_tungstenite::client_async(url.as_str(), tls).await?;
        serve(slack, socket, shutdown).await
    } else {
        let (socket, _) = tokio_tungstenite::client_async(url.as_str(), tcp).await?;
        serve(slack, socket, shutdown).await
    }
}

async fn serve<S>(
    slack: &Slack,
    socket: tokio_tungstenite::WebSocketStream<S>,
    shutdown: &mut Shutdown,
) -> anyhow::Result<Ended>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sink, mut stream) = socket.split();
    let sink = Arc::new(tokio::sync::Mutex::new(sink));
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = shutdown.changed() => {
                let _ = sink.lock().await.send(Message::Close(None)).await;
                return Ok(Ended::Shutdown);
            }
        };
        let text = match frame {
            None => return Ok(Ended::Reconnect),
            Some(Err(error)) => return Err(error.into()),
            Some(Ok(Message::Text(text))) => text.to_string(),
            Some(Ok(Message::Close(_))) => return Ok(Ended::Reconnect),
            Some(Ok(Message::Ping(data))) => {
                sink.lock().await.send(Message::Pong(data)).await?;
                continue;
            }
            Some(Ok(_)) => continue,
        };
        let Ok(envelope) = serde_json::from_str::<Value>(&text) else {
            tracing::debug!("ignoring a malformed Socket Mode frame");
            continue;
        };
        match envelope["type"].as_str() {
            Some("hello") => tracing::info!("Slack Socket Mode connected"),
            Some("disconnect") => {
                tracing::info!(reason = ?envelope["reason"].as_str(), "Slack asked to reconnect");
                return Ok(Ended::Reconnect);
            }
            _ => {
                // Envelopes are handled concurrently, like HTTP requests.
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
    }
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
