//! Layered configuration: built-in defaults < TOML file < environment
//! (`SWITCHBOARD__SECTION__KEY`). Validated once at start; secrets are wrapped
//! in [`Secret`] so that `Debug` and `config check` never print them.
//!
//! Why one file: the configuration is one typed tree (`Config` and its
//! sections, each with its defaults) that is loaded, validated and printed
//! redacted as a whole; the sections apart from `Config::load` and its
//! validation would scatter the one list of keys that `config check` and
//! the example file mirror. The tests of the layering close the file.

use std::{fmt, net::SocketAddr, path::PathBuf, time::Duration};

use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Serialize};

/// A value that must never reach a log line.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"[redacted]\"")
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub storage: StorageConfig,
    pub tickets: TicketsConfig,
    pub auth: AuthConfig,
    pub outbox: OutboxConfig,
    pub log: LogConfig,
    pub slack: SlackConfig,
    pub discord: DiscordConfig,
    pub email: EmailConfig,
    pub notifications: NotificationsConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// A directory of `<event>.<channel>.hbs` files overriding the built-in
    /// message templates; empty for the built-in ones.
    pub templates_dir: String,
    /// SMS gateway speaking Twilio's Messages API (form POST to
    /// `{base}/2010-04-01/Accounts/{sid}/Messages.json`, basic auth).
    pub sms_api_base_url: String,
    pub sms_account_sid: String,
    pub sms_auth_token: Secret,
    /// The sending number (E.164) or sender id.
    pub sms_from: String,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            templates_dir: String::new(),
            sms_api_base_url: "https://api.twilio.com".into(),
            sms_account_sid: String::new(),
            sms_auth_token: Secret::default(),
            sms_from: String::new(),
        }
    }
}

impl NotificationsConfig {
    /// SMS is on when the account, its token and the sender are set.
    pub fn sms_enabled(&self) -> bool {
        !self.sms_account_sid.trim().is_empty()
            && !self.sms_auth_token.is_empty()
            && !self.sms_from.trim().is_empty()
    }

    pub fn templates_dir(&self) -> Option<&std::path::Path> {
        (!self.templates_dir.trim().is_empty())
            .then(|| std::path::Path::new(self.templates_dir.trim()))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the HTTP listener binds.
    pub listen: String,
    /// URL under which users reach this daemon (links in messages).
    pub public_url: String,
    /// Requests taking longer than this are answered 503.
    pub request_timeout_secs: u64,
    /// Largest request body accepted (uploads included).
    pub max_body_bytes: usize,
    /// At SIGTERM, how long deliveries under way may finish; the rest are
    /// given back to the outbox for the next start.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            request_timeout_secs: 30,
            max_body_bytes: 30 * 1024 * 1024,
            shutdown_grace_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://switchboard.db` (default) or `postgres://user:pw@host/db`.
    pub url: Secret,
    /// Pool size; by default four per CPU of this host, 8 to 64.
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
}

/// Four connections per CPU, 8 to 64: measured on 2 CPUs, 8 connections
/// carried the Slack intake 10-20 % faster than 32, with less Postgres CPU
/// per event (fewer backends contending for the same pages and locks;
/// BENCHMARKS.md). More only queue inside Postgres.
fn default_pool_size() -> u32 {
    let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    u32::try_from(cpus.saturating_mul(4))
        .unwrap_or(u32::MAX)
        .clamp(8, 64)
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("sqlite://switchboard.db"),
            max_connections: default_pool_size(),
            acquire_timeout_secs: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Where attachment content lives: `filesystem` (under `data_dir`),
    /// `database` (the `blobs` table) or `s3` (`[storage.s3]`).
    pub backend: StorageBackend,
    /// The filesystem backend's root, one file per content hash.
    pub data_dir: PathBuf,
    pub max_attachment_bytes: u64,
    pub s3: S3Config,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Filesystem,
            data_dir: PathBuf::from("data"),
            max_attachment_bytes: 25 * 1024 * 1024,
            s3: S3Config::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageBackend {
    Filesystem,
    Database,
    S3,
}

impl StorageBackend {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "filesystem" => Some(Self::Filesystem),
            "database" => Some(Self::Database),
            "s3" => Some(Self::S3),
            _ => None,
        }
    }
}

/// An S3-compatible bucket for `backend = "s3"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// e.g. `https://s3.eu-west-1.amazonaws.com`, `http://minio:9000`.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// `endpoint/bucket/key` URLs (MinIO, Ceph, most self-hosted servers);
    /// `false` for AWS's `bucket.endpoint/key`.
    pub path_style: bool,
    /// Put before every object name, e.g. `switchboard/`.
    pub prefix: String,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: Secret::default(),
            path_style: true,
            prefix: String::new(),
        }
    }
}

impl S3Config {
    pub fn settings(&self) -> crate::store::blobs::S3Settings {
        crate::store::blobs::S3Settings {
            endpoint: self.endpoint.clone(),
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.expose().to_string(),
            path_style: self.path_style,
            prefix: self.prefix.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketsConfig {
    /// A resolved ticket closes by itself after this many days unless reopened.
    pub auto_close_after_days: f64,
}

impl Default for TicketsConfig {
    fn default() -> Self {
        Self {
            auto_close_after_days: 7.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of a JWT access token.
    pub access_token_ttl_secs: u64,
    /// Lifetime of a refresh token (each refresh issues a new one).
    pub refresh_token_ttl_days: f64,
    pub invitation_ttl_hours: f64,
    pub password_reset_ttl_minutes: f64,
    /// Failed sign-ins on one account within 15 minutes before it locks.
    pub max_failed_logins: u32,
    /// Failed sign-ins from one client address within 15 minutes before it locks.
    pub max_failed_logins_per_address: u32,
    pub lockout_minutes: f64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 900,
            refresh_token_ttl_days: 30.0,
            invitation_ttl_hours: 168.0,
            password_reset_ttl_minutes: 30.0,
            max_failed_logins: 5,
            max_failed_logins_per_address: 50,
            lockout_minutes: 15.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Attempts before a message is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt (with jitter) up to `max_backoff_secs`.
    pub initial_backoff_secs: f64,
    pub max_backoff_secs: f64,
    /// How often the dispatcher and scheduler look for due work when not woken.
    pub poll_interval_ms: u64,
    /// Timeout of one outbound HTTP call; a whole delivery attempt (which
    /// may make several, or speak SMTP) is cut after three times this.
    pub delivery_timeout_secs: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff_secs: 2.0,
            max_backoff_secs: 3600.0,
            poll_interval_ms: 1000,
            delivery_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines (the default on a terminal).
    #[default]
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// `tracing` filter directive, e.g. `info,switchboard=debug`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    pub signing_secret: Secret,
    pub bot_token: Secret,
    pub api_base_url: String,
    /// The organization (slug) the workspace's people and tickets belong to.
    pub organization: String,
    /// Web API calls per second per method, at most (Slack's tiers allow
    /// about 1/s per channel for posting; 429s are honoured on top).
    pub max_calls_per_second: u32,
    /// The emoji (name without colons) that turns a message into a ticket.
    pub reaction: String,
    /// Who raises a ticket made from a reaction: `reactor` or `author`.
    pub reaction_requester: String,
    /// Receive events over a WebSocket (`apps.connections.open`) instead of
    /// public endpoints; needs `app_token`.
    pub socket_mode: bool,
    /// The app-level token (`xapp-…`, scope `connections:write`).
    pub app_token: Secret,
    /// Socket Mode: how often we ping Slack, in milliseconds.
    pub socket_ping_interval_ms: u64,
    /// Socket Mode: nothing received for this long (no pong, no envelope)
    /// means a dead connection: a new one is opened.
    pub socket_read_timeout_ms: u64,
    /// Socket Mode: after `disconnect` `link_disabled` (Socket Mode turned
    /// off for the app), wait this long before trying again.
    pub socket_link_disabled_retry_secs: u64,
    /// OAuth v2 install of several workspaces: the app's client id and
    /// secret (Basic Information → App Credentials).
    #[serde(deserialize_with = "id_text")]
    pub client_id: String,
    pub client_secret: Secret,
    /// Seals installed workspaces' bot tokens at rest (AES-256-GCM with
    /// the SHA-256 of this string); a long random string, kept secret.
    pub token_key: Secret,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            signing_secret: Secret::default(),
            bot_token: Secret::default(),
            api_base_url: "https://slack.com/api".into(),
            organization: "default".into(),
            max_calls_per_second: 20,
            reaction: "ticket".into(),
            reaction_requester: "reactor".into(),
            socket_mode: false,
            app_token: Secret::default(),
            socket_ping_interval_ms: 10_000,
            socket_read_timeout_ms: 30_000,
            socket_link_disabled_retry_secs: 300,
            client_id: String::new(),
            client_secret: Secret::default(),
            token_key: Secret::default(),
        }
    }
}

impl SlackConfig {
    /// On when the bot token is set with the signing secret (HTTP
    /// endpoints) or, in Socket Mode, the app-level token.
    pub fn enabled(&self) -> bool {
        (!self.bot_token.is_empty() || self.oauth_enabled())
            && (!self.signing_secret.is_empty() || (self.socket_mode && !self.app_token.is_empty()))
    }

    /// The OAuth install flow is on with client id, client secret and the
    /// key that seals stored tokens.
    pub fn oauth_enabled(&self) -> bool {
        !self.client_id.is_empty() && !self.client_secret.is_empty() && !self.token_key.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    #[serde(deserialize_with = "id_text")]
    pub application_id: String,
    #[serde(deserialize_with = "id_text")]
    pub public_key: String,
    pub bot_token: Secret,
    pub api_base_url: String,
    /// The organization (slug) the application's guilds belong to.
    pub organization: String,
    /// A channel id for approvals and notices to people who do not accept
    /// direct messages (they are mentioned there); empty: such messages fail.
    #[serde(deserialize_with = "id_text")]
    pub fallback_channel: String,
    /// Hold a gateway connection (one replica, by advisory lock) to read
    /// messages and attachments; needs the Message Content intent.
    pub gateway: bool,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            application_id: String::new(),
            public_key: String::new(),
            bot_token: Secret::default(),
            api_base_url: "https://discord.com/api/v10".into(),
            organization: "default".into(),
            fallback_channel: String::new(),
            gateway: false,
        }
    }
}

impl DiscordConfig {
    /// On when both the public key and the bot token are set.
    pub fn enabled(&self) -> bool {
        !self.public_key.is_empty() && !self.bot_token.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// The first mailbox: `imaps://user%40corp.com:pw@host:993/INBOX`,
    /// `imap+starttls://…:143/INBOX` or `imap://…` (plain, loopback only).
    pub imap_url: Secret,
    /// `smtps://…:465`, `smtp+starttls://…:587` or `smtp://127.0.0.1:2525`.
    pub smtp_url: Secret,
    /// The address mail is sent from (`Help Desk <help@corp.com>`).
    pub from: String,
    /// Seconds between mailbox polls when IDLE is unavailable (and the
    /// longest an IDLE waits before checking again).
    pub poll_interval: u64,
    /// Organization, ticket kind, team and category of the first mailbox.
    pub org: String,
    pub kind: String,
    pub team: String,
    pub category: String,
    /// Acknowledge a ticket opened by email to its sender.
    pub acknowledge: bool,
    /// Create a requester for an unknown sender; otherwise refuse politely.
    pub create_requesters: bool,
    /// Add Cc'd addresses of a new ticket as watchers.
    pub cc_watchers: bool,
    /// Messages one sender may send in an hour before the rest are held in
    /// quarantine (stops mail loops).
    pub sender_rate_limit: u32,
    /// Use IMAP IDLE where the server offers it.
    pub idle: bool,
    /// Folder the first mailbox's messages are moved to once taken in
    /// (UID MOVE, else COPY + \Deleted + EXPUNGE); empty: they stay and are
    /// flagged `\Seen`.
    pub processed_folder: String,
    /// Hours an Approve/Reject link in an approval request mail works.
    pub approval_link_ttl_hours: f64,
    /// OAuth 2.0 (XOAUTH2 with refreshed access tokens) for the first
    /// mailbox's IMAP sign-in; off while `token_url` is empty.
    pub imap_oauth: OAuthConfig,
    /// OAuth 2.0 for the SMTP sign-in; off while `token_url` is empty.
    pub smtp_oauth: OAuthConfig,
    /// More mailboxes, each with its own `imap_url` and mapping.
    pub mailboxes: Vec<MailboxConfig>,
}

/// An OAuth 2.0 client that trades a refresh token for access tokens at
/// `token_url` (`grant_type=refresh_token`); the access token is sent as
/// SASL XOAUTH2 in place of the mail URL's password.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    /// The provider's token endpoint (`https://login.example.com/oauth2/token`).
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub refresh_token: Secret,
    /// Space-separated scopes to ask for; empty: the grant's own.
    pub scope: String,
}

impl OAuthConfig {
    pub fn enabled(&self) -> bool {
        !self.token_url.trim().is_empty()
    }

    fn validate(&self, key: &'static str) -> Result<(), ConfigError> {
        if !self.enabled() {
            return Ok(());
        }
        match url::Url::parse(self.token_url.trim()) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
            _ => {
                return Err(ConfigError::Value {
                    key,
                    message: "token_url must be an http(s) URL".into(),
                })
            }
        }
        if self.client_id.trim().is_empty() || self.refresh_token.is_empty() {
            return Err(ConfigError::Value {
                key,
                message: "client_id and refresh_token are required with token_url".into(),
            });
        }
        Ok(())
    }
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            imap_url: Secret::default(),
            smtp_url: Secret::default(),
            from: String::new(),
            poll_interval: 60,
            org: "default".into(),
            kind: "incident".into(),
            team: String::new(),
            category: String::new(),
            acknowledge: true,
            create_requesters: true,
            cc_watchers: false,
            sender_rate_limit: 30,
            idle: true,
            processed_folder: String::new(),
            approval_link_ttl_hours: 72.0,
            imap_oauth: OAuthConfig::default(),
            smtp_oauth: OAuthConfig::default(),
            mailboxes: Vec::new(),
        }
    }
}

/// One more mailbox (`[[email.mailboxes]]`); unset fields take the values
/// of the first mailbox.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MailboxConfig {
    pub imap_url: Secret,
    pub org: Option<String>,
    pub kind: Option<String>,
    pub team: Option<String>,
    pub category: Option<String>,
    pub acknowledge: Option<bool>,
    pub create_requesters: Option<bool>,
    /// This mailbox's processed folder (not inherited from the first).
    pub processed_folder: Option<String>,
    /// This mailbox's OAuth 2.0 client (not inherited from the first).
    pub oauth: Option<OAuthConfig>,
}

/// A mailbox with its mapping resolved, as the intake worker uses it.
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub imap_url: Secret,
    pub org: String,
    pub kind: String,
    pub team: Option<String>,
    pub category: Option<String>,
    pub acknowledge: bool,
    pub create_requesters: bool,
    pub processed_folder: Option<String>,
    pub oauth: Option<OAuthConfig>,
}

impl EmailConfig {
    /// Every configured mailbox, the first one first.
    pub fn mailboxes(&self) -> Vec<Mailbox> {
        let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let mut all = Vec::new();
        if !self.imap_url.is_empty() {
            all.push(Mailbox {
                imap_url: self.imap_url.clone(),
                org: self.org.clone(),
                kind: self.kind.clone(),
                team: non_empty(&self.team),
                category: non_empty(&self.category),
                acknowledge: self.acknowledge,
                create_requesters: self.create_requesters,
                processed_folder: non_empty(&self.processed_folder),
                oauth: Some(self.imap_oauth.clone()).filter(OAuthConfig::enabled),
            });
        }
        for m in &self.mailboxes {
            all.push(Mailbox {
                imap_url: m.imap_url.clone(),
                org: m.org.clone().unwrap_or_else(|| self.org.clone()),
                kind: m.kind.clone().unwrap_or_else(|| self.kind.clone()),
                team: m
                    .team
                    .as_deref()
                    .and_then(non_empty)
                    .or_else(|| non_empty(&self.team)),
                category: m
                    .category
                    .as_deref()
                    .and_then(non_empty)
                    .or_else(|| non_empty(&self.category)),
                acknowledge: m.acknowledge.unwrap_or(self.acknowledge),
                create_requesters: m.create_requesters.unwrap_or(self.create_requesters),
                processed_folder: m.processed_folder.as_deref().and_then(non_empty),
                oauth: m.oauth.clone().filter(OAuthConfig::enabled),
            });
        }
        all
    }
}

/// A configuration problem, naming the key and what it accepts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {message}")]
    File { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("`{key}`: {message}")]
    Value { key: &'static str, message: String },
}

impl Config {
    /// Loads defaults, then `file` (or `switchboard.toml` when present), then
    /// the environment, and validates the result.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError::File {
                        path: path.display().to_string(),
                        message: "file not found".into(),
                    });
                }
                figment = figment.merge(Toml::file_exact(path));
            }
            None => {
                let default = std::path::Path::new("switchboard.toml");
                if default.exists() {
                    figment = figment.merge(Toml::file_exact(default));
                }
            }
        }
        figment = figment.merge(Env::prefixed("SWITCHBOARD__").split("__"));
        // The environment layer reads values that look like numbers as
        // numbers (`123.456` as a float, losing digits): ids are taken
        // again as the exact text of their variable.
        for key in ID_KEYS {
            let name = format!("SWITCHBOARD__{}", key.replace('.', "__").to_uppercase());
            if let Some(value) = Env::var(&name) {
                figment = figment.merge(Serialized::default(key, value));
            }
        }
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(describe_figment_error(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        crate::templates::Templates::load(self.notifications.templates_dir()).map_err(
            |message| ConfigError::Value {
                key: "notifications.templates_dir",
                message,
            },
        )?;
        if self.notifications.sms_enabled() {
            url::Url::parse(&self.notifications.sms_api_base_url).map_err(|e| {
                ConfigError::Value {
                    key: "notifications.sms_api_base_url",
                    message: format!(
                        "must be an absolute URL such as https://api.twilio.com ({e})"
                    ),
                }
            })?;
        }
        url::Url::parse(&self.server.public_url).map_err(|e| ConfigError::Value {
            key: "server.public_url",
            message: format!("must be an absolute URL such as https://desk.example.com ({e})"),
        })?;
        let db = self.database.url.expose();
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return Err(ConfigError::Value {
                key: "database.url",
                message: "must start with sqlite:// or postgres://".into(),
            });
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::Value {
                key: "database.max_connections",
                message: "must be at least 1".into(),
            });
        }
        if !(self.tickets.auto_close_after_days.is_finite()
            && self.tickets.auto_close_after_days >= 0.0)
        {
            return Err(ConfigError::Value {
                key: "tickets.auto_close_after_days",
                message: "must be a number of days, 0 or more".into(),
            });
        }
        let auth = &self.auth;
        for (key, value) in [
            ("auth.refresh_token_ttl_days", auth.refresh_token_ttl_days),
            ("auth.invitation_ttl_hours", auth.invitation_ttl_hours),
            (
                "auth.password_reset_ttl_minutes",
                auth.password_reset_ttl_minutes,
            ),
            ("auth.lockout_minutes", auth.lockout_minutes),
        ] {
            if !(value.is_finite() && (0.0..=3650.0 * 24.0 * 60.0).contains(&value)) {
                return Err(ConfigError::Value {
                    key,
                    message: "must be a non-negative number".into(),
                });
            }
        }
        if auth.access_token_ttl_secs == 0
            || auth.max_failed_logins == 0
            || auth.max_failed_logins_per_address == 0
        {
            return Err(ConfigError::Value {
                key: "auth",
                message: "access_token_ttl_secs, max_failed_logins and max_failed_logins_per_address must be at least 1".into(),
            });
        }
        if self.storage.backend == StorageBackend::S3 {
            let s3 = &self.storage.s3;
            for (key, value) in [
                ("storage.s3.endpoint", s3.endpoint.as_str()),
                ("storage.s3.bucket", s3.bucket.as_str()),
                ("storage.s3.access_key_id", s3.access_key_id.as_str()),
                (
                    "storage.s3.secret_access_key",
                    s3.secret_access_key.expose(),
                ),
            ] {
                if value.trim().is_empty() {
                    return Err(ConfigError::Value {
                        key,
                        message: "must be set when storage.backend is \"s3\"".into(),
                    });
                }
            }
            crate::store::blobs::S3::new(&s3.settings()).map_err(|e| ConfigError::Value {
                key: "storage.s3",
                message: format!("{e:#}"),
            })?;
        }
        self.validate_email()?;
        if self.discord.enabled() {
            parse_ed25519_public_key(&self.discord.public_key).map_err(|message| {
                ConfigError::Value {
                    key: "discord.public_key",
                    message,
                }
            })?;
        }
        if self.outbox.max_attempts == 0 {
            return Err(ConfigError::Value {
                key: "outbox.max_attempts",
                message: "must be at least 1".into(),
            });
        }
        if !(self.outbox.initial_backoff_secs > 0.0
            && self.outbox.max_backoff_secs >= self.outbox.initial_backoff_secs)
        {
            return Err(ConfigError::Value {
                key: "outbox.initial_backoff_secs",
                message: "must be above 0 and not above outbox.max_backoff_secs".into(),
            });
        }
        if !matches!(self.slack.reaction_requester.as_str(), "reactor" | "author") {
            return Err(ConfigError::Value {
                key: "slack.reaction_requester",
                message: "must be `reactor` or `author`".into(),
            });
        }
        for (key, value) in [
            ("slack.api_base_url", &self.slack.api_base_url),
            ("discord.api_base_url", &self.discord.api_base_url),
        ] {
            url::Url::parse(value).map_err(|e| ConfigError::Value {
                key,
                message: format!("must be an absolute URL ({e})"),
            })?;
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.listen.parse().map_err(|_| ConfigError::Value {
            key: "server.listen",
            message: format!(
                "`{}` is not a socket address; expected host:port such as 127.0.0.1:8080 or 0.0.0.0:8080",
                self.server.listen
            ),
        })
    }

    pub fn auto_close_after(&self) -> chrono::Duration {
        chrono::Duration::seconds((self.tickets.auto_close_after_days * 86_400.0) as i64)
    }

    pub fn auth_settings(&self) -> crate::desk::auth::AuthSettings {
        let a = &self.auth;
        let minutes = |m: f64| chrono::Duration::seconds((m * 60.0) as i64);
        crate::desk::auth::AuthSettings {
            access_ttl: chrono::Duration::seconds(a.access_token_ttl_secs as i64),
            refresh_ttl: minutes(a.refresh_token_ttl_days * 24.0 * 60.0),
            invitation_ttl: minutes(a.invitation_ttl_hours * 60.0),
            reset_ttl: minutes(a.password_reset_ttl_minutes),
            mfa_challenge_ttl: chrono::Duration::minutes(5),
            max_failures: i32::try_from(a.max_failed_logins).unwrap_or(i32::MAX),
            max_failures_per_address: i32::try_from(a.max_failed_logins_per_address)
                .unwrap_or(i32::MAX),
            lockout: minutes(a.lockout_minutes),
            public_url: self.server.public_url.clone(),
            approval_link_ttl: chrono::Duration::seconds(
                (self.email.approval_link_ttl_hours * 3600.0) as i64,
            ),
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.server.request_timeout_secs)
    }

    /// Chat platforms whose deliverer runs: ticket events are mirrored there.
    pub fn chat_platforms(&self) -> Vec<String> {
        let mut platforms = Vec::new();
        if self.slack.enabled() {
            platforms.push("slack".to_string());
        }
        if self.discord.enabled() {
            platforms.push("discord".to_string());
        }
        platforms
    }

    fn validate_email(&self) -> Result<(), ConfigError> {
        use crate::domain::mail::{MailUrl, Protocol};
        let email = &self.email;
        if !email.smtp_url.is_empty() {
            MailUrl::parse(email.smtp_url.expose(), Protocol::Smtp).map_err(|message| {
                ConfigError::Value {
                    key: "email.smtp_url",
                    message,
                }
            })?;
            if email.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(ConfigError::Value {
                    key: "email.from",
                    message: "must be an address such as `Help Desk <help@corp.com>` when email.smtp_url is set".into(),
                });
            }
        }
        for (i, mailbox) in email.mailboxes().iter().enumerate() {
            MailUrl::parse(mailbox.imap_url.expose(), Protocol::Imap).map_err(|message| {
                ConfigError::Value {
                    key: if i == 0 && !email.imap_url.is_empty() {
                        "email.imap_url"
                    } else {
                        "email.mailboxes.imap_url"
                    },
                    message,
                }
            })?;
            if crate::domain::Kind::parse(&mailbox.kind).is_err() {
                return Err(ConfigError::Value {
                    key: "email.kind",
                    message: "must be incident, service_request, problem or change".into(),
                });
            }
        }
        email.imap_oauth.validate("email.imap_oauth")?;
        email.smtp_oauth.validate("email.smtp_oauth")?;
        for m in &email.mailboxes {
            if let Some(oauth) = &m.oauth {
                oauth.validate("email.mailboxes.oauth")?;
            }
        }
        if !(email.approval_link_ttl_hours > 0.0 && email.approval_link_ttl_hours <= 24.0 * 90.0) {
            return Err(ConfigError::Value {
                key: "email.approval_link_ttl_hours",
                message: "must be more than 0 and at most 2160 (90 days)".into(),
            });
        }
        if email.poll_interval == 0 {
            return Err(ConfigError::Value {
                key: "email.poll_interval",
                message: "must be at least 1 second".into(),
            });
        }
        Ok(())
    }

    /// Which optional connectors have credentials, for the one-line start report.
    pub fn connectors(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("slack", self.slack.enabled()),
            ("discord", self.discord.enabled()),
            (
                "email",
                !self.email.imap_url.is_empty()
                    || !self.email.smtp_url.is_empty()
                    || !self.email.mailboxes.is_empty(),
            ),
        ]
    }

    /// The effective configuration as TOML with secrets redacted (`config check`).
    pub fn redacted_toml(&self) -> String {
        let mut copy = self.clone();
        for secret in [
            &mut copy.slack.signing_secret,
            &mut copy.slack.bot_token,
            &mut copy.slack.app_token,
            &mut copy.slack.client_secret,
            &mut copy.slack.token_key,
            &mut copy.discord.bot_token,
            &mut copy.storage.s3.secret_access_key,
            &mut copy.email.imap_url,
            &mut copy.email.smtp_url,
            &mut copy.email.imap_oauth.client_secret,
            &mut copy.email.imap_oauth.refresh_token,
            &mut copy.email.smtp_oauth.client_secret,
            &mut copy.email.smtp_oauth.refresh_token,
        ]
        .into_iter()
        .chain(copy.email.mailboxes.iter_mut().flat_map(|m| {
            let mut secrets = vec![&mut m.imap_url];
            if let Some(oauth) = m.oauth.as_mut() {
                secrets.push(&mut oauth.client_secret);
                secrets.push(&mut oauth.refresh_token);
            }
            secrets
        })) {
            if !secret.is_empty() {
                *secret = Secret::new("[redacted]");
            }
        }
        copy.database.url = Secret::new(redact_url_password(self.database.url.expose()));
        toml::to_string_pretty(&copy).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

fn redact_url_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("redacted"));
            url.to_string()
        }
        _ => raw.to_string(),
    }
}

/// Turns figment's error into "`section.key`: what is wrong".
fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let origin = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{origin}", e.kind)
            } else {
                format!("`{key}`: {}{origin}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Configuration keys whose values are ids: text, even when all digits.
const ID_KEYS: &[&str] = &[
    "discord.application_id",
    "discord.public_key",
    "discord.fallback_channel",
    "slack.client_id",
];

/// An id kept as text when a file writes it as a number
/// (`application_id = 1100000000000000001` in TOML).
fn id_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IdText {
        Text(String),
        Number(u64),
    }
    Ok(match IdText::deserialize(deserializer)? {
        IdText::Text(s) => s,
        IdText::Number(n) => n.to_string(),
    })
}

/// The Discord application's public key, as shown hex-encoded on its page.
/// Here so that `config check` refuses a bad key at start and the Discord
/// edge parses it the same way.
pub fn parse_ed25519_public_key(hex_key: &str) -> Result<ed25519_dalek::VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .map_err(|e| format!("not hex: {e}"))?
        .try_into()
        .map_err(|_| "must be 32 bytes (64 hex digits)".to_string())?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not a key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_connectors_off() {
        let config = Config::default();
        config.validate().expect("defaults validate");
        assert_eq!(config.database.url.expose(), "sqlite://switchboard.db");
        assert_eq!(config.server.listen, "127.0.0.1:8080");
        assert!(config.connectors().iter().all(|(_, on)| !on));
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_check() {
        let mut config = Config::default();
        config.slack.bot_token = Secret::new("xoxb-very-secret");
        config.database.url = Secret::new("postgres://sb:hunter2@db/sb");
        assert!(!format!("{config:?}").contains("xoxb-very-secret"));
        let shown = config.redacted_toml();
        assert!(!shown.contains("xoxb-very-secret"));
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("postgres://sb:redacted@db/sb"));
    }

    #[test]
    fn a_bad_listen_address_names_the_key() {
        let mut config = Config::default();
        config.server.listen = "localhost".into();
        let error = config.validate().expect_err("invalid").to_string();
        assert!(error.contains("server.listen"), "{error}");
    }

    #[test]
    fn oauth_settings_are_checked_and_their_secrets_redacted() {
        let mut config = Config::default();
        config.email.smtp_oauth.token_url = "https://login.example.com/token".into();
        let refused = config
            .validate()
            .expect_err("client_id and refresh_token missing");
        assert!(
            refused.to_string().contains("email.smtp_oauth"),
            "{refused}"
        );
        config.email.smtp_oauth.client_id = "desk".into();
        config.email.smtp_oauth.refresh_token = Secret::new("rt-very-secret");
        config.email.smtp_oauth.client_secret = Secret::new("cs-very-secret");
        config.validate().expect("complete");
        let shown = config.redacted_toml();
        assert!(!shown.contains("very-secret"), "{shown}");
        config.email.smtp_oauth.token_url = "ftp://login.example.com/token".into();
        assert!(config.validate().is_err(), "not http(s)");
        config.email.smtp_oauth = OAuthConfig::default();
        config.email.approval_link_ttl_hours = 0.0;
        assert!(config.validate().is_err(), "a link that never works");
    }

    #[test]
    fn the_example_file_lists_every_key() {
        let example = include_str!("../switchboard.example.toml");
        let parsed: toml::Value = toml::from_str(example).expect("example parses");
        let defaults = toml::Value::try_from(Config::default()).expect("serializes");
        let (Some(example), Some(defaults)) = (parsed.as_table(), defaults.as_table()) else {
            panic!("both are tables");
        };
        for (section, keys) in defaults {
            let listed = example
                .get(section)
                .and_then(|s| s.as_table())
                .unwrap_or_else(|| {
                    panic!("section [{section}] missing from switchboard.example.toml")
                });
            for key in keys.as_table().into_iter().flat_map(|t| t.keys()) {
                assert!(
                    listed.contains_key(key),
                    "{section}.{key} missing from switchboard.example.toml"
                );
            }
        }
        let config: Config = toml::from_str(&toml::to_string(&parsed).expect("re-serializes"))
            .expect("example is a valid config");
        config.validate().expect("example validates");
    }
}
