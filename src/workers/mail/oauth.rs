//! OAuth 2.0 access tokens for SASL XOAUTH2 (IMAP and SMTP): the
//! configured refresh token is exchanged at the provider's token endpoint
//! (`grant_type=refresh_token`, a form POST), the access token is cached
//! until shortly before its `expires_in`, and [`TokenSource::invalidate`]
//! forces a fresh one after the server refused it. A rotated refresh token
//! (the provider answered with a new `refresh_token`) replaces the old one
//! and is stored in the database, sealed with a key derived from the
//! configured credentials (`runtime::seal`), so a restart or another
//! replica goes on with it; a refusal of the token in hand is retried once
//! with the stored one when another replica rotated it meanwhile. Changing
//! the configured refresh token starts afresh (it is part of the row's key).

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{
    config::OAuthConfig,
    runtime::seal::Sealer,
    store::{self, Db},
};

/// Refresh this long before the provider's expiry (at most a tenth of
/// the token's life).
const MARGIN: Duration = Duration::from_secs(60);
/// When the provider says nothing about expiry.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// The token endpoint refused or could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("OAuth token refresh at {url} failed: {message}")]
pub struct RefreshFailed {
    pub url: String,
    pub message: String,
}

pub struct TokenSource {
    http: reqwest::Client,
    config: OAuthConfig,
    state: tokio::sync::Mutex<State>,
    /// Where a rotated refresh token is kept.
    db: Db,
    /// The stored token's row: SHA-256 of token URL, client id and the
    /// configured refresh token (hex).
    key: String,
    sealer: Sealer,
}

struct State {
    access: Option<(String, Instant)>,
    refresh_token: String,
    /// Whether the stored token (if any) was read.
    loaded: bool,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize, Default)]
struct ErrorAnswer {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.config.token_url)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub fn new(config: &OAuthConfig, timeout: Duration, db: Db) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .context("OAuth HTTP client")?;
        let configured = config.refresh_token.expose();
        let key = hex::encode(Sha256::digest(
            [config.token_url.trim(), &config.client_id, configured].join("\n"),
        ));
        // Only who holds the configuration can open the stored token.
        let sealer = Sealer::new(
            [
                "switchboard oauth refresh token",
                configured,
                config.client_secret.expose(),
            ]
            .join("\n")
            .as_bytes(),
        );
        Ok(Self {
            http,
            config: config.clone(),
            state: tokio::sync::Mutex::new(State {
                access: None,
                refresh_token: configured.to_string(),
                loaded: false,
            }),
            db,
            key,
            sealer,
        })
    }

    /// The refresh token stored by an earlier rotation, if any and readable.
    async fn stored(&self) -> Option<String> {
        let row = match store::mail::find_refresh_token(&self.db, &self.key).await {
            Ok(row) => row?,
            Err(e) => {
                tracing::warn!(error = %e, token_url = %self.config.token_url, "could not read the stored OAuth refresh token; using the one in hand");
                return None;
            }
        };
        match self.sealer.open(self.key.as_bytes(), &row.0, &row.1) {
            Ok(plain) => String::from_utf8(plain).ok(),
            Err(e) => {
                tracing::warn!(error = %e, token_url = %self.config.token_url, "the stored OAuth refresh token does not open; using the configured one");
                None
            }
        }
    }

    async fn store(&self, token: &str) {
        let saved = match self.sealer.seal(self.key.as_bytes(), token.as_bytes()) {
            Ok((nonce, sealed)) => {
                store::mail::save_refresh_token(&self.db, &self.key, &nonce, &sealed, store::now())
                    .await
                    .map_err(anyhow::Error::from)
            }
            Err(e) => Err(e),
        };
        if let Err(e) = saved {
            tracing::error!(error = %format!("{e:#}"), token_url = %self.config.token_url, "could not store the rotated OAuth refresh token; it is kept in memory only");
        }
    }

    /// A valid access token: the cached one, or a fresh one.
    pub async fn access_token(&self) -> Result<String, RefreshFailed> {
        let mut state = self.state.lock().await;
        if let Some((token, until)) = &state.access {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        if !state.loaded {
            if let Some(stored) = self.stored().await {
                state.refresh_token = stored;
            }
            state.loaded = true;
        }
        let answer = match self.refresh(&state.refresh_token).await {
            Ok(answer) => answer,
            Err(e) => {
                // Another replica may have rotated the token since we read it.
                let fresher = self
                    .stored()
                    .await
                    .filter(|stored| *stored != state.refresh_token);
                let retried = match fresher {
                    Some(stored) => {
                        state.refresh_token = stored;
                        self.refresh(&state.refresh_token).await
                    }
                    None => Err(e),
                };
                retried.map_err(|e| RefreshFailed {
                    url: self.config.token_url.clone(),
                    message: format!("{e:#}"),
                })?
            }
        };
        let lifetime = answer
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LIFETIME);
        let margin = MARGIN.min(lifetime / 10);
        state.access = Some((
            answer.access_token.clone(),
            Instant::now() + lifetime.saturating_sub(margin),
        ));
        if let Some(rotated) = answer.refresh_token.filter(|t| !t.is_empty()) {
            if rotated != state.refresh_token {
                tracing::info!(token_url = %self.config.token_url, "the OAuth provider rotated the refresh token; using and storing the new one");
                self.store(&rotated).await;
                state.refresh_token = rotated;
            }
        }
        Ok(answer.access_token)
    }

    /// Forgets the cached access token (the server refused it).
    pub async fn invalidate(&self) {
        self.state.lock().await.access = None;
    }

    async fn refresh(&self, refresh_token: &str) -> anyhow::Result<TokenAnswer> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", self.config.client_id.as_str()),
        ];
        if !self.config.client_secret.is_empty() {
            form.push(("client_secret", self.config.client_secret.expose()));
        }
        if !self.config.scope.trim().is_empty() {
            form.push(("scope", self.config.scope.trim()));
        }
        let response = self
            .http
            .post(self.config.token_url.trim())
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .context("reaching the token endpoint")?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .context("reading the token endpoint's answer")?;
        if !status.is_success() {
            let error: ErrorAnswer = serde_json::from_slice(&body).unwrap_or_default();
            return Err(anyhow!(
                "{status}{}{}",
                if error.error.is_empty() {
                    String::new()
                } else {
                    format!(": {}", error.error)
                },
                if error.error_description.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", error.error_description)
                }
            ));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .context("the token endpoint's answer has no access_token")?;
        if answer.access_token.is_empty() {
            return Err(anyhow!("the token endpoint answered an empty access_token"));
        }
        Ok(answer)
    }
}
