//! The optional Discord gateway connection (`discord.gateway = true`), on
//! twilight-gateway: with the Message Content intent granted, messages
//! people write become ticket input (`message`: what one event does).
//! Here: the connection and the session that makes it lose nothing.
//!
//! - Only one replica holds the connection: the leader of a Postgres
//!   advisory lock (DESIGN.md §8).
//! - The session id, the URL to resume at and the last *committed*
//!   sequence live in the database (`store::gateway`). A reconnect — or a
//!   new leader — RESUMEs there, and Discord replays what was missed.
//! - A dispatch counts as read only after its use case committed. When one
//!   fails, the connection is dropped and resumed from the last committed
//!   sequence, so Discord sends the event again, after a growing pause.
//!   An attempt counts only once it is recorded in the database, so an
//!   outage of the database never uses them up; after [`MAX_ATTEMPTS`]
//!   recorded failures the event is kept in `gateway_failed_events`,
//!   logged as an error, and skipped, so one bad event cannot stop every
//!   later one.
//! - Invalid session `d: true` resumes, `d: false` (and close codes
//!   4007/4009) forgets the session and identifies afresh after 1–5 s;
//!   close codes that forbid reconnecting (4004 authentication failed,
//!   4010–4014) stop the gateway with an error saying what to fix.
//!
//! May import `desk`, `store`, `domain`, `runtime` and its own platform.

mod message;

use std::{sync::Arc, time::Duration};

use anyhow::{anyhow, Context};
use chrono::Utc;
use futures::StreamExt;
use rand::Rng;
use serde_json::Value;
use twilight_gateway::{CloseFrame, ConfigBuilder, Intents, Message, Session, Shard, ShardId};
use twilight_model::gateway::payload::outgoing::identify::IdentifyProperties;

use super::api::DiscordApi;
use super::PLATFORM;
use crate::{
    desk::Desk,
    runtime::{idle, Shutdown},
    store::{self, gateway::FailedEvent, mail::Leader},
};

/// GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT (privileged).
pub const INTENTS: u64 = 1 | (1 << 9) | (1 << 12) | (1 << 15);
/// Recorded failures of one event before it is set aside and skipped.
pub const MAX_ATTEMPTS: i64 = 5;
/// The leader lock's name, and the session's row in `gateway_sessions`.
pub const LOCK: &str = "discord-gateway";
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often the leader checks that its lock's database session lives.
const LEADER_CHECK: Duration = Duration::from_secs(15);

#[derive(Clone)]
pub struct Gateway {
    desk: Desk,
    api: Arc<DiscordApi>,
    token: String,
    organization: String,
    downloads: reqwest::Client,
}

/// Why one connection ended.
enum Ended {
    Shutdown,
    /// Reconnect (and resume if a session is stored) after `pause`.
    Reconnect {
        pause: Pause,
    },
}

enum Pause {
    /// At once: Discord asked (op 7) or the connection was healthy.
    None,
    /// The growing pause of repeated trouble.
    Backoff,
    /// 1–5 s before a fresh IDENTIFY, as Discord asks after op 9 `false`.
    Identify,
}

/// Why the gateway gave up leading.
enum Stop {
    /// Reconnecting cannot help (bad token, intents not granted…).
    Fatal(anyhow::Error),
    /// The lock or the database went away; try to lead again later.
    Lost(anyhow::Error),
}

impl Gateway {
    pub fn new(desk: Desk, config: &crate::config::DiscordConfig) -> anyhow::Result<Self> {
        // twilight's TLS connector takes the process-wide rustls provider.
        crate::runtime::tls::install_ring_provider();
        Ok(Self {
            desk,
            api: Arc::new(DiscordApi::new(config)?),
            token: config.bot_token.expose().to_string(),
            organization: config.organization.clone(),
            downloads: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    /// Runs until shutdown, or until Discord refuses the bot for good:
    /// leader election, then one connection after another.
    pub async fn run(self, mut shutdown: Shutdown) {
        let mut backoff = Duration::from_secs(1);
        while !*shutdown.borrow() {
            let mut leader = match Leader::try_acquire(&self.desk.db, LOCK).await {
                Ok(Some(leader)) => leader,
                Ok(None) => {
                    tracing::debug!("another replica holds the Discord gateway");
                    idle(&mut shutdown, None, Duration::from_secs(15)).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Discord gateway leader election failed");
                    idle(&mut shutdown, None, backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            let led = self.lead(&mut leader, &mut shutdown).await;
            leader.release().await;
            match led {
                Ok(()) => return,
                Err(Stop::Fatal(e)) => {
                    tracing::error!(error = %format!("{e:#}"), "the Discord gateway stopped: Discord refuses this bot; fix the configuration and restart");
                    return;
                }
                Err(Stop::Lost(e)) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, "the Discord gateway lost its leadership");
                    idle(&mut shutdown, None, backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// While leading: one connection after another, each resuming the
    /// stored session; returns on shutdown.
    async fn lead(&self, leader: &mut Leader, shutdown: &mut Shutdown) -> Result<(), Stop> {
        let mut backoff = Duration::from_secs(1);
        let mut gateway_url = None;
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            if !leader.still_leading().await {
                return Err(Stop::Lost(anyhow!(
                    "the leader lock's database session ended"
                )));
            }
            let mut progressed = false;
            let ended = self
                .connection(&mut gateway_url, &mut progressed, leader, shutdown)
                .await;
            if progressed {
                backoff = Duration::from_secs(1);
            }
            let pause = match ended {
                Ok(Ended::Shutdown) => return Ok(()),
                Ok(Ended::Reconnect { pause }) => pause,
                Err(Stop::Fatal(e)) => return Err(Stop::Fatal(e)),
                Err(Stop::Lost(e)) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, "the Discord gateway connection ended");
                    Pause::Backoff
                }
            };
            let wait = match pause {
                Pause::None => {
                    backoff = Duration::from_secs(1);
                    Duration::ZERO
                }
                Pause::Backoff => {
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
                Pause::Identify => Duration::from_millis(rand::thread_rng().gen_range(1000..=5000)),
            };
            if !wait.is_zero() {
                idle(shutdown, None, wait).await;
            }
        }
    }

    /// One WebSocket connection: resume the stored session (or identify),
    /// then read dispatches, committing each after its use case.
    async fn connection(
        &self,
        gateway_url: &mut Option<String>,
        progressed: &mut bool,
        leader: &mut Leader,
        shutdown: &mut Shutdown,
    ) -> Result<Ended, Stop> {
        let db = &self.desk.db;
        let url = match gateway_url {
            Some(url) => url.clone(),
            None => {
                let url = self
                    .api
                    .gateway_url()
                    .await
                    .map_err(|f| Stop::Lost(anyhow!("GET /gateway/bot: {f:?}")))?;
                let url = url.trim_end_matches('/').to_string();
                *gateway_url = Some(url.clone());
                url
            }
        };
        let stored = store::gateway::load(db, LOCK)
            .await
            .context("reading the stored gateway session")
            .map_err(Stop::Lost)?;
        let mut config =
            ConfigBuilder::new(self.token.clone(), Intents::from_bits_truncate(INTENTS))
                .proxy_url(url)
                .identify_properties(IdentifyProperties::new(
                    "switchboard",
                    "switchboard",
                    std::env::consts::OS,
                ));
        let mut session_id = None;
        if let Some(stored) = stored {
            if let Some(id) = stored.session_id {
                let sequence = u64::try_from(stored.sequence).unwrap_or(0);
                config = config.session(Session::new(sequence, id.clone()));
                if let Some(resume) = stored.resume_url {
                    config = config.resume_url(resume.trim_end_matches('/').to_string());
                }
                tracing::info!(sequence, "resuming the stored Discord gateway session");
                session_id = Some(id);
            }
        }
        let mut shard = Shard::with_config(ShardId::ONE, config.build());
        let mut check = tokio::time::interval(LEADER_CHECK);
        check.tick().await;
        loop {
            let message = tokio::select! {
                _ = shutdown.changed() => {
                    // Not 1000/1001: the session stays resumable for whoever leads next.
                    shard.close(CloseFrame::RESUME);
                    // Polled until anything comes back: by then the close
                    // frame is flushed. Polling on would let twilight reconnect.
                    let _ = tokio::time::timeout(Duration::from_secs(2), shard.next()).await;
                    return Ok(Ended::Shutdown);
                }
                _ = check.tick() => {
                    if !leader.still_leading().await {
                        return Err(Stop::Lost(anyhow!("the leader lock's database session ended")));
                    }
                    continue;
                }
                message = shard.next() => message,
            };
            let text = match message {
                None => {
                    return Err(Stop::Fatal(anyhow!(
                        "the Discord gateway closed the connection for good"
                    )))
                }
                Some(Err(e)) => {
                    use twilight_gateway::error::ReceiveMessageErrorType as Kind;
                    match e.kind() {
                        Kind::Deserializing { .. } => {
                            tracing::info!(error = %e, "skipped a gateway frame that is not understood");
                            continue;
                        }
                        // twilight retries with its own backoff, falling back
                        // from a dead resume URL to the gateway URL.
                        Kind::Reconnect => {
                            tracing::warn!(error = %format!("{:#}", anyhow::Error::new(e)), "could not connect to the Discord gateway; retrying");
                            continue;
                        }
                        _ => {
                            return Err(Stop::Lost(
                                anyhow::Error::new(e)
                                    .context("the Discord gateway connection failed"),
                            ))
                        }
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.as_ref().map(|f| f.code);
                    return self.closed(code).await;
                }
                Some(Ok(Message::Text(text))) => text,
            };
            let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            match frame["op"].as_u64() {
                Some(0) => {
                    let Some(sequence) = frame["s"].as_i64() else {
                        continue;
                    };
                    let kind = frame["t"].as_str().unwrap_or_default();
                    if kind == "READY" {
                        let (Some(id), Some(resume)) = (
                            frame["d"]["session_id"].as_str(),
                            frame["d"]["resume_gateway_url"].as_str(),
                        ) else {
                            return Err(Stop::Lost(anyhow!("READY without a session")));
                        };
                        store::gateway::start(db, LOCK, id, resume, sequence, Utc::now())
                            .await
                            .context("storing the gateway session")
                            .map_err(Stop::Lost)?;
                        tracing::info!("Discord gateway connected: a new session");
                        session_id = Some(id.to_string());
                        continue;
                    }
                    if kind == "RESUMED" {
                        tracing::info!("Discord gateway resumed the session");
                    }
                    match self
                        .dispatch(kind, sequence, &frame["d"], session_id.as_deref())
                        .await
                    {
                        Some(ended) => return Ok(ended),
                        None => *progressed = true,
                    }
                }
                Some(7) => {
                    tracing::info!("Discord asked for a reconnect");
                    return Ok(Ended::Reconnect { pause: Pause::None });
                }
                Some(9) => {
                    if frame["d"] == true {
                        tracing::info!("Discord invalidated the connection; resuming");
                        return Ok(Ended::Reconnect { pause: Pause::None });
                    }
                    tracing::info!("Discord invalidated the session; identifying afresh");
                    store::gateway::forget(db, LOCK, Utc::now())
                        .await
                        .context("forgetting the gateway session")
                        .map_err(Stop::Lost)?;
                    return Ok(Ended::Reconnect {
                        pause: Pause::Identify,
                    });
                }
                _ => {}
            }
        }
    }

    /// Runs one dispatch and commits its sequence; `Some` when the
    /// connection must end so that Discord replays it.
    async fn dispatch(
        &self,
        kind: &str,
        sequence: i64,
        data: &Value,
        session_id: Option<&str>,
    ) -> Option<Ended> {
        let db = &self.desk.db;
        let failure = match self.handle_event(kind, data).await {
            Ok(()) => {
                let id = session_id?;
                match store::gateway::commit(db, LOCK, id, sequence, Utc::now()).await {
                    Ok(()) => return None,
                    Err(e) => anyhow::Error::new(e).context("committing the gateway sequence"),
                }
            }
            Err(e) => e,
        };
        let attempts = match store::gateway::record_failure(db, LOCK, sequence, Utc::now()).await {
            Ok(attempts) => attempts,
            Err(e) => {
                // Not counted: an outage of the database must not use up attempts.
                tracing::warn!(error = %format!("{failure:#}"), record = %e, kind, sequence,
                    "a Discord gateway event failed; resuming so that Discord sends it again");
                return Some(Ended::Reconnect {
                    pause: Pause::Backoff,
                });
            }
        };
        if attempts < MAX_ATTEMPTS {
            tracing::warn!(error = %format!("{failure:#}"), kind, sequence, attempts,
                "a Discord gateway event failed; resuming so that Discord sends it again");
            return Some(Ended::Reconnect {
                pause: Pause::Backoff,
            });
        }
        tracing::error!(error = %format!("{failure:#}"), kind, sequence, attempts,
            "a Discord gateway event keeps failing; set aside in gateway_failed_events and skipped");
        let failed = FailedEvent {
            sequence,
            event_type: kind.to_string(),
            payload: sqlx::types::Json(data.clone()),
            attempts,
            error: format!("{failure:#}"),
        };
        let kept = store::gateway::insert_failed_event(db, LOCK, &failed, Utc::now()).await;
        let committed = match (kept, session_id) {
            (Ok(()), Some(id)) => store::gateway::commit(db, LOCK, id, sequence, Utc::now()).await,
            (Ok(()), None) => Ok(()),
            (Err(e), _) => Err(e),
        };
        match committed {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!(error = %e, "could not set the failing gateway event aside");
                Some(Ended::Reconnect {
                    pause: Pause::Backoff,
                })
            }
        }
    }

    /// The gateway closed the connection with `code`.
    async fn closed(&self, code: Option<u16>) -> Result<Ended, Stop> {
        let fatal = |what: &str| {
            Err(Stop::Fatal(anyhow!(
                "Discord closed the gateway with {}: {what}",
                code.unwrap_or_default()
            )))
        };
        match code {
            Some(4004) => fatal("authentication failed — check discord.bot_token"),
            Some(4010) => fatal("invalid shard"),
            Some(4011) => fatal("sharding required — the bot is in too many guilds for one shard"),
            Some(4012) => fatal("invalid API version"),
            Some(4013) => fatal("invalid intents"),
            Some(4014) => fatal(
                "disallowed intents — enable the Message Content intent for the bot in the Discord Developer Portal",
            ),
            Some(4007 | 4009) => {
                tracing::info!(code, "the Discord gateway session expired; identifying afresh");
                store::gateway::forget(&self.desk.db, LOCK, Utc::now())
                    .await
                    .context("forgetting the gateway session")
                    .map_err(Stop::Lost)?;
                Ok(Ended::Reconnect { pause: Pause::Identify })
            }
            _ => {
                tracing::info!(?code, "the Discord gateway connection closed; resuming");
                Ok(Ended::Reconnect { pause: Pause::Backoff })
            }
        }
    }
}
