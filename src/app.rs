//! Wiring: connect and migrate the database, build the desk, bind the HTTP
//! listener (port 0 allowed), start the workers, and shut everything down
//! gracefully: stop accepting, finish in-flight requests and the current
//! outbox batch, then return.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::net::TcpListener;

use crate::{
    channels::discord::{api::DiscordApi, inbound::Discord, verify::Verifier},
    channels::slack::inbound::Slack,
    config::Config,
    desk::{orgs::DEFAULT_ORG, Desk, DeskSettings},
    http::{self, AppState},
    metrics::Metrics,
    store::Db,
    workers::{dispatcher::Dispatcher, scheduler::Scheduler},
};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    run_workers: bool,
    /// Set on the very first start: an admin token for the `default` organization.
    pub bootstrap_token: Option<String>,
}

/// Connects to the configured database and applies migrations.
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    let db = Db::connect(
        config.database.url.expose(),
        config.database.max_connections,
        Duration::from_secs(config.database.acquire_timeout_secs),
    )
    .await?;
    db.migrate().await?;
    Ok(db)
}

pub fn build_desk(config: &Config, db: Db) -> Desk {
    Desk::new(
        db,
        DeskSettings {
            data_dir: config.storage.data_dir.clone(),
            max_attachment_bytes: config.storage.max_attachment_bytes,
            auto_close_after: config.auto_close_after(),
            auth: config.auth_settings(),
            chat_platforms: config.chat_platforms(),
        },
        Arc::new(Metrics::default()),
    )
    // Validated with the configuration; the built-in ones otherwise.
    .with_templates(
        crate::templates::Templates::load(config.notifications.templates_dir()).unwrap_or_default(),
    )
}

impl Application {
    /// Builds the daemon. `run_workers: false` leaves the dispatcher and
    /// scheduler to the caller (tests step them by hand).
    pub async fn build(config: Config, run_workers: bool) -> anyhow::Result<Self> {
        let addr = config.listen_addr()?;
        // A template error is reported at start, never at send time.
        crate::templates::Templates::load(config.notifications.templates_dir())
            .map_err(|e| anyhow::anyhow!("notifications.templates_dir: {e}"))?;
        let db = open_database(&config).await?;
        let desk = build_desk(&config, db);
        let (_, created) = desk
            .ensure_org(DEFAULT_ORG)
            .await
            .context("creating the default organization")?;
        let bootstrap_token = if created {
            Some(
                desk.create_token(DEFAULT_ORG, "admin", "bootstrap")
                    .await
                    .context("creating the bootstrap token")?,
            )
        } else {
            None
        };
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr} (server.listen)"))?;
        let slack = if config.slack.enabled() {
            Some(Slack::new(desk.clone(), &config.slack)?)
        } else {
            None
        };
        let discord = if config.discord.enabled() {
            Some(Discord {
                desk: desk.clone(),
                api: Arc::new(DiscordApi::new(&config.discord)?),
                verifier: Verifier::new(&config.discord.public_key)
                    .map_err(|e| anyhow::anyhow!("discord.public_key: {e}"))?,
                organization: config.discord.organization.clone(),
            })
        } else {
            None
        };
        Ok(Self {
            listener,
            state: AppState {
                desk,
                config: Arc::new(config),
                slack,
                discord,
            },
            run_workers,
            bootstrap_token,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn desk(&self) -> &Desk {
        &self.state.desk
    }

    /// Serves until `shutdown` completes, then drains and returns.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let config = self.state.config.clone();
        let desk = self.state.desk.clone();
        let mut workers = Vec::new();
        if self.run_workers {
            let dispatcher = Dispatcher::from_config(desk.clone(), &config)?;
            workers.push(tokio::spawn(dispatcher.run(stop_rx.clone())));
            let poll = Duration::from_millis(config.outbox.poll_interval_ms);
            workers.push(tokio::spawn(
                Scheduler::new(desk.clone(), poll).run(stop_rx.clone()),
            ));
            if config.discord.enabled() && config.discord.gateway {
                let gateway =
                    crate::channels::discord::gateway::Gateway::new(desk.clone(), &config.discord)?;
                workers.push(tokio::spawn(gateway.run(stop_rx.clone())));
            }
            for mailbox in crate::workers::mail::imap::workers(&desk, &config.email).await? {
                tracing::info!(mailbox = %mailbox.name(), "mail intake starting");
                workers.push(tokio::spawn(mailbox.run(stop_rx.clone())));
            }
        }
        // Socket Mode is intake, like the HTTP endpoints: on whether or not
        // this process runs the workers.
        if let Some(slack) = self
            .state
            .slack
            .clone()
            .filter(|_| config.slack.socket_mode)
        {
            tracing::info!("Slack Socket Mode starting");
            workers.push(tokio::spawn(crate::channels::slack::socket::run(
                slack,
                stop_rx.clone(),
            )));
        }
        let router = http::router(self.state);
        let mut http_stop = stop_rx.clone();
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(self.listener, service).with_graceful_shutdown(async move {
            let _ = http_stop.changed().await;
        });
        let server = tokio::spawn(async move { server.await });
        shutdown.await;
        tracing::info!(
            "shutting down: no new connections; finishing in-flight requests and deliveries"
        );
        let _ = stop_tx.send(true);
        server
            .await
            .context("HTTP server task")?
            .context("HTTP server")?;
        for worker in workers {
            worker.await.context("worker task")?;
        }
        desk.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when
/// this is called, not when first polled: call it before announcing
/// readiness, so a signal that arrives during start-up is not fatal.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = wait(term) => {}
                _ = wait(int) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
