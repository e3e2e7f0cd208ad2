//! The OAuth v2 install flow for several workspaces: an admin asks for the
//! install link of their organization (`GET /slack/install`, a redirect to
//! Slack's authorize page with a signed, expiring `state` naming the
//! organization); Slack sends the installer back to
//! `/slack/oauth/callback`, where the code is exchanged (`oauth.v2.access`)
//! and the workspace's bot token stored sealed, mapped to the organization.

use uuid::Uuid;

use super::{api::ApiFailure, inbound::Slack};
use crate::{desk::DeskError, store};

/// Slack's authorize page.
pub const AUTHORIZE_URL: &str = "https://slack.com/oauth/v2/authorize";

/// The bot scopes the daemon uses (as in `bot-manifest/slack-app.yaml`).
pub const BOT_SCOPES: &[&str] = &[
    "chat:write",
    "im:history",
    "im:write",
    "channels:history",
    "groups:history",
    "app_mentions:read",
    "commands",
    "reactions:read",
    "users:read",
    "users:read.email",
    "files:read",
    "files:write",
];

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("the Slack install flow is off: set slack.client_id, slack.client_secret and slack.token_key")]
    NotConfigured,
    #[error("the install link is invalid or has expired; ask for a new one")]
    BadState,
    #[error("the install was not completed: {0}")]
    Denied(String),
    #[error("Slack refused the install: {0}")]
    Slack(String),
    #[error(transparent)]
    Desk(#[from] DeskError),
}

impl Slack {
    fn redirect_uri(&self) -> String {
        format!(
            "{}/slack/oauth/callback",
            self.desk.settings.auth.public_url.trim_end_matches('/')
        )
    }

    /// Slack's authorize URL for installing into organization `org_id`.
    pub fn install_url(&self, org_id: Uuid) -> Result<String, InstallError> {
        let Some(installs) = self
            .api
            .installs
            .as_ref()
            .filter(|_| self.settings.oauth_enabled())
        else {
            return Err(InstallError::NotConfigured);
        };
        let state = installs.state(&org_id.to_string(), chrono::Utc::now().timestamp());
        let mut url =
            url::Url::parse(AUTHORIZE_URL).map_err(|e| InstallError::Slack(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("scope", &BOT_SCOPES.join(","))
            .append_pair("redirect_uri", &self.redirect_uri())
            .append_pair("state", &state);
        Ok(url.to_string())
    }

    /// Completes an install: checks `state`, exchanges `code`, stores the
    /// sealed token for the organization. Returns the workspace's name.
    pub async fn finish_install(
        &self,
        code: Option<&str>,
        state: Option<&str>,
        error: Option<&str>,
    ) -> Result<String, InstallError> {
        let Some(installs) = self
            .api
            .installs
            .clone()
            .filter(|_| self.settings.oauth_enabled())
        else {
            return Err(InstallError::NotConfigured);
        };
        let org_id = state
            .and_then(|s| installs.check_state(s, chrono::Utc::now().timestamp()))
            .and_then(|org| Uuid::parse_str(&org).ok())
            .ok_or(InstallError::BadState)?;
        if let Some(error) = error {
            return Err(InstallError::Denied(error.to_string()));
        }
        let code = code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| InstallError::Denied("no code".into()))?;
        let answer = self
            .api
            .oauth_access(
                &self.settings.client_id,
                self.settings.client_secret.expose(),
                code,
                &self.redirect_uri(),
            )
            .await
            .map_err(|f| match f {
                ApiFailure::Retry { error, .. } | ApiFailure::Permanent(error) => {
                    InstallError::Slack(error)
                }
            })?;
        let (Some(token), Some(team_id)) = (
            answer["access_token"].as_str(),
            answer["team"]["id"].as_str(),
        ) else {
            return Err(InstallError::Slack(
                "oauth.v2.access gave no bot token or team".into(),
            ));
        };
        let team_name = answer["team"]["name"]
            .as_str()
            .unwrap_or(team_id)
            .to_string();
        let (nonce, sealed) = installs
            .seal(team_id, token)
            .map_err(|e| InstallError::Desk(DeskError::Internal(e)))?;
        let now = store::now();
        let row = store::slack_installs::SlackInstallRow {
            team_id: team_id.to_string(),
            org_id,
            team_name: team_name.clone(),
            bot_user_id: answer["bot_user_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            scopes: answer["scope"].as_str().unwrap_or_default().to_string(),
            token_nonce: nonce,
            token_sealed: sealed,
            installed_at: now,
            updated_at: now,
        };
        let desk = self.desk.clone();
        self.desk
            .execute(move |work| Box::pin(async move { desk.slack_installed(work, row).await }))
            .await?;
        installs.forget();
        tracing::info!(team = team_id, %org_id, "Slack workspace installed");
        Ok(team_name)
    }
}
