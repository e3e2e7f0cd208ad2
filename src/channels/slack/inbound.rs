//! What Slack sends, turned into desk calls, after `payload` read it into
//! slack-morphism's models: events (direct messages, mentions, thread
//! replies, edits, reactions, the home tab) in `events`, slash commands in
//! `commands`, interactions (buttons, menus, modal submissions, shortcuts)
//! in `interactions`. Each input is recorded under its natural key
//! (`event_id`, or the `trigger_id` of a command or click), so Slack's
//! retries change nothing; anything slow (opening a modal, an ephemeral
//! answer) happens after the answer, never before.
//!
//! The three are child modules, each an `impl Slack` of its own, so the
//! helpers they share (intake keys, contacts, refusals, ephemeral answers,
//! views opened after the answer) stay here, private to `inbound` and seen
//! by its children only — not widened to the whole `slack` folder.

use std::{collections::HashMap, sync::Arc};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{api::SlackApi, render, PLATFORM};
use crate::{
    config::SlackConfig,
    desk::{
        identity::{Contact, IdentityKey},
        Actor, Desk, DeskError, Intake,
    },
    domain::Channel,
};

mod commands;
mod events;
mod interactions;

/// What the HTTP endpoint answers Slack.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// 200 with an empty body.
    Ack,
    /// 200 with this JSON.
    Json(Value),
    /// 500: not recorded (a database problem); Slack will retry.
    Retry,
}

#[derive(Clone)]
pub struct Slack {
    pub desk: Desk,
    pub api: Arc<SlackApi>,
    pub signing_secret: String,
    /// The organization (slug) this workspace belongs to.
    pub organization: String,
    /// The `[slack]` settings (reaction emoji, requester, …).
    pub settings: Arc<SlackConfig>,
    /// What `users.info` said about people seen, learnt in the background.
    pub profiles: Arc<Profiles>,
    /// The configured organization's id, once looked up.
    org: Arc<tokio::sync::OnceCell<Uuid>>,
}

/// Slack users' profiles (name, email) by (team, user), learnt once per
/// process with `users.info` after first contact — never on the ack path.
#[derive(Default)]
pub struct Profiles {
    known: std::sync::Mutex<HashMap<(String, String), Option<Profile>>>,
}

#[derive(Debug, Clone)]
pub struct Profile {
    pub name: Option<String>,
    pub email: Option<String>,
}

impl Profiles {
    fn get(&self, team: &str, user: &str) -> Option<Option<Profile>> {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(team.to_string(), user.to_string()))
            .cloned()
    }

    /// Claims the lookup of a user: true for the first caller only.
    fn claim(&self, team: &str, user: &str) -> bool {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let key = (team.to_string(), user.to_string());
        if known.contains_key(&key) {
            return false;
        }
        known.insert(key, None);
        true
    }

    fn learn(&self, team: &str, user: &str, profile: Profile) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((team.to_string(), user.to_string()), Some(profile));
    }

    /// Forgets a failed lookup, so a later contact tries again.
    fn forget(&self, team: &str, user: &str) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(team.to_string(), user.to_string()));
    }
}

fn fingerprint(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

fn intake(key: &str, body: &[u8]) -> Intake {
    Intake {
        source: PLATFORM.into(),
        key: key.into(),
        fingerprint: fingerprint(body),
        status: 200,
        first_delivery: false,
    }
}

/// Sorts a desk error: lasting refusals are answered (and logged), storage
/// trouble is not acknowledged so Slack retries.
fn refused(error: &DeskError) -> bool {
    !matches!(error, DeskError::Store(_) | DeskError::Internal(_))
}

impl Slack {
    pub fn new(desk: Desk, config: &SlackConfig) -> anyhow::Result<Self> {
        let installs = super::installs::Installs::new(desk.db.clone(), config.token_key.expose())
            .map(Arc::new);
        Ok(Self {
            org: Arc::default(),
            desk,
            api: Arc::new(SlackApi::new(config, installs)?),
            signing_secret: config.signing_secret.expose().to_string(),
            organization: config.organization.clone(),
            settings: Arc::new(config.clone()),
            profiles: Arc::default(),
        })
    }

    /// The organization of workspace `team`: its OAuth install's, else
    /// the configured one (looked up once).
    pub(super) async fn org_id(&self, team: &str) -> Result<Uuid, DeskError> {
        if let Some(installs) = &self.api.installs {
            if let Some((org, _)) = installs.for_team(team).await.map_err(DeskError::Internal)? {
                return Ok(org);
            }
        }
        self.org
            .get_or_try_init(|| self.desk.organization_id(&self.organization))
            .await
            .copied()
    }

    /// A Slack user as a desk contact, with what `users.info` said about
    /// them when already known; otherwise that is learnt in the background
    /// (and the identity linked by email then).
    pub(super) fn contact(
        &self,
        org_id: Uuid,
        team: &str,
        user: &str,
        name: Option<&str>,
    ) -> Contact {
        let profile = self.profiles.get(team, user).flatten();
        if profile.is_none() && !user.is_empty() {
            self.learn_profile(org_id, team, user);
        }
        let display = profile
            .as_ref()
            .and_then(|p| p.name.clone())
            .or_else(|| name.map(String::from))
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| user.to_string());
        Contact {
            org_id,
            identity: IdentityKey::Slack {
                team_id: team.to_string(),
                user_id: user.to_string(),
            },
            display_name: display,
            verified_email: profile.and_then(|p| p.email),
        }
    }

    /// `users.info` for a user seen for the first time in this process,
    /// after the answer: their email links the Slack identity to the
    /// existing person with that address.
    fn learn_profile(&self, org_id: Uuid, team: &str, user: &str) {
        if !self.profiles.claim(team, user) {
            return;
        }
        let this = self.clone();
        let (team, user) = (team.to_string(), user.to_string());
        tokio::spawn(async move {
            let api = match this.api.for_team(&team).await {
                Ok(api) => api,
                Err(error) => {
                    tracing::debug!(?error, "no Slack token for users.info");
                    this.profiles.forget(&team, &user);
                    return;
                }
            };
            let answer = match api.call_form("users.info", &[("user", &user)]).await {
                Ok(answer) => answer,
                Err(error @ super::api::ApiFailure::Retry { .. }) => {
                    // Asked again on a contact a minute from now, not on
                    // every event while Slack is unreachable.
                    tracing::debug!(?error, user, "users.info failed; will try again later");
                    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                    this.profiles.forget(&team, &user);
                    return;
                }
                Err(error) => {
                    // Lasting (e.g. a missing scope): not asked again until restart.
                    tracing::info!(?error, user, "users.info refused");
                    return;
                }
            };
            let profile = &answer["user"]["profile"];
            let learnt = Profile {
                name: profile["real_name"]
                    .as_str()
                    .or_else(|| answer["user"]["real_name"].as_str())
                    .filter(|n| !n.trim().is_empty())
                    .map(String::from),
                email: profile["email"]
                    .as_str()
                    .filter(|e| !e.is_empty())
                    .map(String::from),
            };
            this.profiles.learn(&team, &user, learnt.clone());
            if learnt.email.is_none() {
                return;
            }
            let contact = Contact {
                org_id,
                identity: IdentityKey::Slack {
                    team_id: team.clone(),
                    user_id: user.clone(),
                },
                display_name: learnt.name.unwrap_or_else(|| user.clone()),
                verified_email: learnt.email,
            };
            // The user's first message may be creating their identity at
            // this very moment (a unique-key clash): try again shortly.
            for attempt in 1..=3 {
                let desk = this.desk.clone();
                let contact = contact.clone();
                let linked = this
                    .desk
                    .execute(move |work| {
                        Box::pin(async move { desk.chat_link_verified_email(work, &contact).await })
                    })
                    .await;
                match linked {
                    Ok(true) => tracing::info!(user, "linked a Slack user to a person by email"),
                    Ok(false) => {}
                    Err(error) if attempt < 3 => {
                        tracing::debug!(%error, user, "linking by email failed; trying again");
                        tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(%error, user, "could not link a Slack user by email")
                    }
                }
                break;
            }
        });
    }

    fn failed(&self, what: &str, error: &DeskError) -> Reply {
        if refused(error) {
            tracing::info!(%error, "refused {what}");
            Reply::Ack
        } else {
            tracing::error!(%error, "could not record {what}; Slack will retry");
            Reply::Retry
        }
    }

    /// Opens the new-ticket modal after the answer, with the catalog's
    /// items to pick from when the organization has any.
    fn open_create_view(&self, contact: Contact, team: &str, trigger: &str) {
        let this = self.clone();
        let (team, trigger) = (team.to_string(), trigger.to_string());
        tokio::spawn(async move {
            let items = match this.actor_of(contact).await {
                Ok(actor) => match this.desk.catalog(&actor).await {
                    Ok(catalog) => catalog
                        .items
                        .into_iter()
                        .filter(|i| i.active)
                        .map(|i| (i.id.to_string(), i.name))
                        .collect(),
                    Err(error) => {
                        tracing::warn!(%error, "could not list the catalog for a Slack modal");
                        Vec::new()
                    }
                },
                Err(error) => {
                    tracing::warn!(%error, "could not resolve who opened a Slack modal");
                    Vec::new()
                }
            };
            let body = json!({ "trigger_id": trigger, "view": render::create_modal(&items) });
            this.call_views(&team, "views.open", &body).await;
        });
    }

    /// The person behind a contact (a requester is created on first contact).
    async fn actor_of(&self, contact: Contact) -> Result<Actor, DeskError> {
        let desk = self.desk.clone();
        self.desk
            .execute(move |work| {
                Box::pin(async move { desk.chat_actor(work, &contact, Channel::Slack).await })
            })
            .await
    }

    /// `views.open` / `views.update` with the team's token; failures are
    /// logged (the person can simply try again).
    async fn call_views(&self, team: &str, method: &str, body: &Value) {
        let api = match self.api.for_team(team).await {
            Ok(api) => api,
            Err(error) => return tracing::warn!(?error, "no Slack token to show a modal"),
        };
        if let Err(error) = api.call(method, body).await {
            tracing::warn!(?error, method, "could not show a Slack modal");
        }
    }

    /// Opens a modal after the answer: Slack wants `views.open` within
    /// three seconds of the trigger, and the answer must not wait for it.
    fn open_view(&self, team: &str, trigger: &str, view: Value) {
        let this = self.clone();
        let team = team.to_string();
        let body = json!({ "trigger_id": trigger, "view": view });
        tokio::spawn(async move { this.call_views(&team, "views.open", &body).await });
    }

    /// An ephemeral answer to the person who clicked, after the answer.
    fn tell(&self, response_url: String, text: String) {
        let api = self.api.clone();
        tokio::spawn(async move {
            let body =
                json!({ "response_type": "ephemeral", "replace_original": false, "text": text });
            if let Err(error) = api.respond(&response_url, &body).await {
                tracing::warn!(?error, "could not answer a Slack click");
            }
        });
    }
}

fn ephemeral(text: &str) -> Reply {
    Reply::Json(json!({ "response_type": "ephemeral", "text": text }))
}

/// A signed body that does not read as Slack's: answered 400 over HTTP
/// (Slack does not retry a 4xx), acknowledged without effect in Socket Mode.
fn unreadable(error: String) -> Reply {
    tracing::info!(%error, "refused an unreadable Slack payload");
    Reply::Json(json!({ "error": "malformed payload" }))
}
