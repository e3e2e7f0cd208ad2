//! Wiring: connect and migrate the database, build the desk, bind the HTTP
//! listener (port 0 allowed), hand the dispatcher its deliverers and mount
//! the chat platforms' routers, start the long-running tasks under
//! supervision (`runtime::supervise`: a task that dies is restarted with
//! backoff, counted, and reported by `/readyz`), and shut everything down
//! gracefully: stop accepting, finish in-flight requests and the current
//! outbox batch, then return.
//!
//! The one module that knows every layer, so that they need not know each
//! other: `workers` never names a chat platform, `http` never mounts one.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{
    channels::{
        discord::{
            self, api::DiscordApi, deliver::DiscordDeliverer, inbound::Discord, verify::Verifier,
        },
        slack::{self, deliver::SlackDeliverer, inbound::Slack},
    },
    config::{Config, StorageBackend},
    console,
    desk::{orgs::DEFAULT_ORG, Desk, DeskSettings},
    http::{self, AppState},
    metrics::Metrics,
    runtime::{
        delivery::Deliverer,
        supervise::{Health, Policy, Supervisor},
        Shutdown,
    },
    store::{
        blobs::{Blobs, S3},
        Db,
    },
    workers::{
        dispatcher::Dispatcher, mail::imap::MailboxWorker, mail::smtp::SmtpDeliverer,
        scheduler::Scheduler, sms::SmsDeliverer, webhook::WebhookDeliverer,
    },
};

pub struct Application {
    listener: TcpListener,
    state: AppState,
    run_workers: bool,
    /// Set when Slack is configured: its endpoints are mounted.
    slack: Option<Slack>,
    /// Set when Discord is configured: its endpoint is mounted.
    discord: Option<Discord>,
    /// Set on the very first start: an admin token for the `default` organization.
    pub bootstrap_token: Option<String>,
}

/// A deliverer for every outbox channel the configuration enables:
/// webhooks always, each connector when it has credentials.
pub fn deliverers(desk: &Desk, config: &Config) -> anyhow::Result<Vec<Arc<dyn Deliverer>>> {
    let timeout = Duration::from_secs(config.outbox.delivery_timeout_secs);
    let mut deliverers: Vec<Arc<dyn Deliverer>> = vec![Arc::new(WebhookDeliverer::new(
        desk.db.clone(),
        &config.outbox,
    )?)];
    if config.slack.enabled() {
        let slack = Slack::new(desk.clone(), &config.slack)?;
        deliverers.push(Arc::new(SlackDeliverer::new(slack)));
    }
    if config.discord.enabled() {
        let api = DiscordApi::new(&config.discord)?;
        let fallback =
            Some(config.discord.fallback_channel.trim().to_string()).filter(|c| !c.is_empty());
        deliverers.push(Arc::new(DiscordDeliverer::new(
            api,
            desk.db.clone(),
            fallback,
        )));
    }
    if !config.email.smtp_url.is_empty() {
        deliverers.push(Arc::new(SmtpDeliverer::new(
            desk.clone(),
            config.email.smtp_url.expose(),
            &config.email.from,
            &config.email.smtp_oauth,
            timeout,
        )?));
    }
    if config.notifications.sms_enabled() {
        deliverers.push(Arc::new(SmsDeliverer::new(&config.notifications, timeout)?));
    } else {
        tracing::info!("SMS notifications off: notifications.sms_account_sid, sms_auth_token and sms_from are not all set");
    }
    Ok(deliverers)
}

// The configured dispatcher is built here rather than in `workers`, which
// may not name the chat platforms' deliverers (an inherent impl may live in
// any module of the crate).
impl Dispatcher {
    /// A dispatcher with a deliverer for every channel the configuration
    /// enables (see [`deliverers`]).
    pub fn from_config(desk: Desk, config: &Config) -> anyhow::Result<Self> {
        let deliverers = deliverers(&desk, config)?;
        Ok(Dispatcher::new(desk, config.outbox.clone(), deliverers)
            .with_grace(Duration::from_secs(config.server.shutdown_grace_secs)))
    }
}

/// Runs `worker` under supervision; a restart runs a fresh clone of it as
/// it was built.
fn supervised<W, R, F>(
    supervisor: &Supervisor,
    name: &str,
    worker: W,
    shutdown: &Shutdown,
    run: R,
) -> JoinHandle<()>
where
    W: Clone + Send + 'static,
    R: Fn(W, Shutdown) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let shutdown = shutdown.clone();
    supervisor.spawn(name, move || {
        let running = run(worker.clone(), shutdown.clone());
        async move {
            running.await;
            Ok(())
        }
    })
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

/// Where attachment content lives, as configured (`[storage] backend`).
pub fn blob_store(config: &Config, db: &Db) -> anyhow::Result<Blobs> {
    Ok(match config.storage.backend {
        StorageBackend::Filesystem => Blobs::Files(config.storage.data_dir.clone()),
        StorageBackend::Database => Blobs::Database(db.clone()),
        StorageBackend::S3 => Blobs::S3(Arc::new(
            S3::new(&config.storage.s3.settings()).context("storage.s3")?,
        )),
    })
}

pub fn build_desk(config: &Config, db: Db) -> anyhow::Result<Desk> {
    let blobs = blob_store(config, &db)?;
    Ok(Desk::new(
        db,
        DeskSettings {
            blobs,
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
    ))
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
        let desk = build_desk(&config, db)?;
        let (_, created) = desk
            .ensure_org(DEFAULT_ORG)
            .await
            .context("creating the default organization")?;
        desk.load_signing_key()
            .await
            .context("reading the session signing key")?;
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
                workers: Health::new(Policy::default()),
            },
            run_workers,
            slack,
            discord,
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
        let supervisor = Supervisor::new(
            self.state.workers.clone(),
            desk.metrics.clone(),
            stop_rx.clone(),
        );
        let mut workers = Vec::new();
        if self.run_workers {
            let dispatcher = Dispatcher::from_config(desk.clone(), &config)?;
            workers.push(supervised(
                &supervisor,
                "dispatcher",
                dispatcher,
                &stop_rx,
                Dispatcher::run,
            ));
            let poll = Duration::from_millis(config.outbox.poll_interval_ms);
            workers.push(supervised(
                &supervisor,
                "scheduler",
                Scheduler::new(desk.clone(), poll),
                &stop_rx,
                Scheduler::run,
            ));
            if config.discord.enabled() && config.discord.gateway {
                let gateway = discord::gateway::Gateway::new(desk.clone(), &config.discord)?;
                workers.push(supervised(
                    &supervisor,
                    "discord-gateway",
                    gateway,
                    &stop_rx,
                    discord::gateway::Gateway::run,
                ));
            }
            for mailbox in config.email.mailboxes() {
                // Built before serving, so a mailbox that cannot be set up
                // (a bad URL, its organization) stops the start.
                let worker = MailboxWorker::new(desk.clone(), &mailbox, &config.email).await?;
                tracing::info!(mailbox = %worker.name(), "mail intake starting");
                let name = format!("imap:{}", worker.name());
                let mut first = Some(worker);
                let (desk, email, shutdown) = (desk.clone(), config.email.clone(), stop_rx.clone());
                workers.push(supervisor.spawn(&name, move || {
                    let built = first.take();
                    let (desk, email, mailbox, shutdown) = (
                        desk.clone(),
                        email.clone(),
                        mailbox.clone(),
                        shutdown.clone(),
                    );
                    async move {
                        // A restart builds the worker afresh, as a start would.
                        let worker = match built {
                            Some(worker) => worker,
                            None => MailboxWorker::new(desk, &mailbox, &email).await?,
                        };
                        worker.run(shutdown).await;
                        Ok(())
                    }
                }));
            }
        }
        // Socket Mode is intake, like the HTTP endpoints: on whether or not
        // this process runs the workers.
        if let Some(slack) = self.slack.clone().filter(|_| config.slack.socket_mode) {
            tracing::info!("Slack Socket Mode starting");
            workers.push(supervised(
                &supervisor,
                "slack-socket-mode",
                slack,
                &stop_rx,
                slack::socket::run,
            ));
        }
        let mut mounted = http::Mounted::default();
        mounted.public = mounted.public.merge(console::router(console::Console::new(
            self.state.desk.clone(),
            self.state.config.clone(),
            self.state.workers.clone(),
        )));
        if let Some(slack) = &self.slack {
            mounted.public = mounted.public.merge(slack::routes::router(slack.clone()));
            mounted.admin = mounted
                .admin
                .merge(slack::routes::admin_router(slack.clone()));
        }
        if let Some(discord) = &self.discord {
            mounted.public = mounted
                .public
                .merge(discord::routes::router(discord.clone()));
        }
        let router = http::router(self.state, mounted);
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
            worker.await.context("worker supervisor task")?;
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
