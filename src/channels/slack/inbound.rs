//! What Slack sends, turned into desk calls: events (direct messages,
//! mentions, thread replies), the `/ticket` slash command, and
//! interactions (buttons, modal submissions, the "Create ticket" message
//! shortcut). Each input is recorded under its natural key (`event_id`, or
//! the `trigger_id` of a command or click), so Slack's retries change
//! nothing; anything slow (opening a modal, an ephemeral answer) happens
//! after the answer, never before.
//!
//! Why one file: events, slash commands and interactions are one `impl
//! Slack` over the same private helpers (intake keys, contacts, refusals,
//! ephemeral answers, views opened after the answer); split by input kind,
//! each part would need those helpers widened to the whole `slack` folder.

use std::{collections::HashMap, sync::Arc};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use slack_morphism::{
    blocks::{SlackBlockId, SlackStatefulView, SlackView, SlackViewStateValue},
    events::{
        SlackEventCallbackBody, SlackInteractionActionContainer, SlackInteractionBlockActionsEvent,
        SlackInteractionEvent, SlackInteractionMessageActionEvent, SlackMessageEvent,
        SlackMessageEventEdited, SlackMessageEventType, SlackPushEvent, SlackPushEventCallback,
        SlackReactionAddedEvent,
    },
    SlackActionId, SlackFile, SlackReactionsItem,
};

use super::{
    api::SlackApi,
    payload::{self, Command, Event, EventExtra, FileExtra, Interaction},
    render, PLATFORM,
};
use crate::{
    config::SlackConfig,
    desk::{
        catalog::OrderInput,
        chat::{ticket_from_text, ChatMessage, ChatOutcome},
        chat_actions::{ActionKind, ChatAction, ChatActionDone},
        chat_commands::ChatCommand,
        chat_reports::{read_report_command, read_report_file_action, ChatReportQueued},
        identity::{Contact, IdentityKey},
        tickets::OpenTicket,
        Actor, Desk, DeskError, Intake, Outcome, Work,
    },
    domain::{form::FormDefinition, Channel, Kind},
};

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

    /// `POST /slack/events`; `first_delivery` unless Slack marked it a
    /// retry (`X-Slack-Retry-Num`, or a Socket Mode `retry_attempt`).
    pub async fn event(&self, body: &[u8], first_delivery: bool) -> Reply {
        let Event { push, extra } = match payload::parse_event(body) {
            Ok(event) => event,
            Err(error) => return unreadable(error),
        };
        match push {
            SlackPushEvent::UrlVerification(check) => {
                Reply::Json(json!({ "challenge": check.challenge }))
            }
            SlackPushEvent::EventCallback(callback) => {
                self.event_callback(callback, extra, body, first_delivery)
                    .await
            }
            SlackPushEvent::AppRateLimited(limited) => {
                tracing::warn!(team = %limited.team_id, "Slack is dropping our events (app_rate_limited)");
                Reply::Ack
            }
        }
    }

    async fn event_callback(
        &self,
        callback: SlackPushEventCallback,
        extra: EventExtra,
        body: &[u8],
        first_delivery: bool,
    ) -> Reply {
        let (event_id, team) = (callback.event_id.0, callback.team_id.0);
        let (event_id, team) = (event_id.as_str(), team.as_str());
        let (message, direct) = match callback.event {
            SlackEventCallbackBody::ReactionAdded(reaction) => {
                return self.reaction(reaction, event_id, team, body).await
            }
            SlackEventCallbackBody::AppHomeOpened(home)
                if home.tab.as_deref() != Some("messages") =>
            {
                return self.home_opened(&home.user.0, team).await
            }
            SlackEventCallbackBody::Message(message)
                if matches!(
                    message.subtype,
                    Some(
                        SlackMessageEventType::MessageChanged
                            | SlackMessageEventType::MessageDeleted
                    )
                ) =>
            {
                return self
                    .message_changed(message, &extra, event_id, team, body)
                    .await
            }
            // Our own posts come back as events too; of the other subtypes
            // only a shared file is taken in.
            SlackEventCallbackBody::Message(message)
                if message.sender.bot_id.is_none()
                    && matches!(
                        message.subtype,
                        None | Some(SlackMessageEventType::FileShare)
                    ) =>
            {
                let direct =
                    message.origin.channel_type.as_ref().map(|t| t.0.as_str()) == Some("im");
                let Some(user) = message.sender.user else {
                    return Reply::Ack;
                };
                let (text, files) = message
                    .content
                    .map(|c| (c.text.unwrap_or_default(), c.files.unwrap_or_default()))
                    .unwrap_or_default();
                let heard = Heard {
                    user: user.0,
                    channel: message.origin.channel.map(|c| c.0),
                    ts: message.origin.ts.0,
                    thread_ts: message.origin.thread_ts.map(|t| t.0),
                    text,
                    files,
                };
                (heard, direct)
            }
            SlackEventCallbackBody::AppMention(mention) if extra.bot_id.is_none() => (
                Heard {
                    user: mention.user.0,
                    channel: Some(mention.channel.0),
                    ts: mention.origin.ts.0,
                    thread_ts: mention.origin.thread_ts.map(|t| t.0),
                    text: mention.content.text.unwrap_or_default(),
                    files: mention.content.files.unwrap_or_default(),
                },
                true,
            ),
            other => {
                tracing::debug!(event = ?event_kind(&other), "ignoring a Slack event");
                return Reply::Ack;
            }
        };
        let Some(channel) = message.channel else {
            return Reply::Ack;
        };
        let (user, ts) = (message.user, message.ts);
        let org_id = match self.org_id(team).await {
            Ok(id) => id,
            Err(e) => return self.failed("resolving the Slack organization", &e),
        };
        let contact = self.contact(org_id, team, &user, None);
        let thread_ts = message.thread_ts.filter(|t| *t != ts);
        // Files are downloaded later (slow): recorded now, with the thread
        // they belong to (the message itself when it opens a ticket).
        let files = (!message.files.is_empty()).then(|| {
            json!({
                "team": team,
                "event_id": event_id,
                "event": {
                    "channel": channel,
                    "user": user,
                    "ts": ts,
                    "files": shared_files(&message.files, extra.files.as_deref().unwrap_or_default()),
                },
                "root": thread_ts.clone().unwrap_or_else(|| ts.clone()),
            })
        });
        let message = ChatMessage {
            platform: PLATFORM,
            channel_kind: Channel::Slack,
            channel,
            ts,
            thread_ts,
            text: strip_mentions(&message.text),
            direct,
        };
        let desk = self.desk.clone();
        let key = format!("event:{event_id}");
        let intake = Intake {
            first_delivery,
            ..intake(&key, body)
        };
        let outcome = self
            .desk
            .run(Some(&intake), move |work| {
                Box::pin(async move {
                    let outcome = desk.chat_message(work, &contact, message).await?;
                    if let Some(files) = files {
                        desk.defer_chat_work(
                            work,
                            org_id,
                            PLATFORM,
                            &key,
                            super::deferred::FILES,
                            files,
                        );
                    }
                    Ok(outcome)
                })
            })
            .await;
        match outcome {
            Ok(_) => Reply::Ack,
            Err(e) => self.failed("a Slack message", &e),
        }
    }

    /// A reaction: with the configured emoji on a message, recorded for
    /// the deliverer to fetch the message and its permalink (slow calls)
    /// and open the ticket; the answer does not wait for that.
    async fn reaction(
        &self,
        reaction: SlackReactionAddedEvent,
        event_id: &str,
        team: &str,
        body: &[u8],
    ) -> Reply {
        let wanted = self.settings.reaction.trim_matches(':');
        let item = match &reaction.item {
            SlackReactionsItem::Message(item) if reaction.reaction.0 == wanted => item,
            _ => {
                tracing::debug!(reaction = %reaction.reaction.0, "ignoring a Slack reaction");
                return Reply::Ack;
            }
        };
        let channel = item
            .origin
            .channel
            .as_ref()
            .map(|c| c.0.as_str())
            .unwrap_or_default();
        let ts = item.origin.ts.0.as_str();
        let org_id = match self.org_id(team).await {
            Ok(id) => id,
            Err(e) => return self.failed("resolving the Slack organization", &e),
        };
        // The deferred work reads the reaction in Slack's own shape.
        let work = json!({ "team": team, "event_id": event_id, "event": {
            "type": "reaction_added",
            "user": reaction.user.0,
            "reaction": reaction.reaction.0,
            "item_user": reaction.item_user.as_ref().map(|u| u.0.as_str()),
            "item": { "type": "message", "channel": channel, "ts": ts },
            "event_ts": reaction.event_ts.0,
        } });
        let desk = self.desk.clone();
        // Reactions to one message share a target: the outbox serves them
        // in order, so the first reactor's ticket is the one.
        let target = format!("reaction:{team}:{channel}:{ts}");
        let outcome = self
            .desk
            .run(
                Some(&intake(&format!("event:{event_id}"), body)),
                move |w| {
                    Box::pin(async move {
                        desk.defer_chat_work(
                            w,
                            org_id,
                            PLATFORM,
                            &target,
                            super::deferred::REACTION,
                            work,
                        );
                        Ok(())
                    })
                },
            )
            .await;
        match outcome {
            Ok(_) => Reply::Ack,
            Err(e) => self.failed("a Slack reaction", &e),
        }
    }

    /// The home tab was opened: the person is remembered (changes refresh
    /// it) and their home published after the answer.
    async fn home_opened(&self, user: &str, team: &str) -> Reply {
        let org_id = match self.org_id(team).await {
            Ok(id) => id,
            Err(e) => return self.failed("resolving the Slack organization", &e),
        };
        let contact = self.contact(org_id, team, user, None);
        let desk = self.desk.clone();
        let owned = user.to_string();
        let person = self
            .desk
            .execute(move |work| {
                Box::pin(async move {
                    desk.chat_home_opened(work, &contact, PLATFORM, &owned)
                        .await
                })
            })
            .await;
        match person {
            Ok(person) => {
                let this = self.clone();
                let user = user.to_string();
                tokio::spawn(async move { this.publish_home(org_id, person, &user).await });
                Reply::Ack
            }
            Err(e) => self.failed("an App Home visit", &e),
        }
    }

    /// Publishes a person's home tab; failures are logged (the next change
    /// or visit publishes again).
    pub async fn publish_home(&self, org_id: Uuid, person: Uuid, user: &str) {
        let view = match self.desk.chat_home(org_id, person).await {
            Ok(view) => view,
            Err(error) => {
                tracing::warn!(%error, "could not build a Slack App Home");
                return;
            }
        };
        let body = json!({ "user_id": user, "view": render::home(&view) });
        let api = match self.api.for_org(org_id).await {
            Ok(api) => api,
            Err(error) => {
                tracing::warn!(?error, "no Slack token for the App Home");
                return;
            }
        };
        if let Err(error) = api.call("views.publish", &body).await {
            tracing::warn!(?error, "could not publish a Slack App Home");
        }
    }

    /// An edit or deletion of a message in a ticket's thread: recorded on
    /// the ticket (the original comment stays).
    async fn message_changed(
        &self,
        event: SlackMessageEvent,
        extra: &EventExtra,
        event_id: &str,
        team: &str,
        body: &[u8],
    ) -> Reply {
        let deleted = event.subtype == Some(SlackMessageEventType::MessageDeleted);
        let (current, previous) = (event.message.as_ref(), event.previous_message.as_ref());
        // Our own messages being edited (cards, approvals) are not news.
        if [current, previous]
            .iter()
            .flatten()
            .any(|m| m.sender.bot_id.is_some())
        {
            return Reply::Ack;
        }
        let (source, source_thread) = if deleted {
            (previous, extra.previous_message.as_ref())
        } else {
            (current, extra.message.as_ref())
        };
        let (Some(user), Some(channel), Some(ts)) = (
            source.and_then(|m| m.sender.user.as_ref()),
            event.origin.channel.as_ref(),
            source.map(|m| &m.ts).or(event.deleted_ts.as_ref()),
        ) else {
            return Reply::Ack;
        };
        let Some(thread) = source_thread
            .and_then(|t| t.thread_ts.as_deref())
            .filter(|t| *t != ts.0)
        else {
            return Reply::Ack;
        };
        let org_id = match self.org_id(team).await {
            Ok(id) => id,
            Err(e) => return self.failed("resolving the Slack organization", &e),
        };
        let contact = self.contact(org_id, team, &user.0, None);
        let text_of = |m: Option<&SlackMessageEventEdited>| {
            m.and_then(|m| m.content.as_ref())
                .and_then(|c| c.text.as_deref())
                .map(strip_mentions)
        };
        let message = ChatMessage {
            platform: PLATFORM,
            channel_kind: Channel::Slack,
            channel: channel.0.clone(),
            ts: ts.0.clone(),
            thread_ts: Some(thread.to_string()),
            text: if deleted {
                String::new()
            } else {
                text_of(current).unwrap_or_default()
            },
            direct: false,
        };
        let previous_text = text_of(previous);
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(
                Some(&intake(&format!("event:{event_id}"), body)),
                move |work| {
                    Box::pin(async move {
                        desk.chat_message_changed(work, &contact, &message, previous_text, deleted)
                            .await
                    })
                },
            )
            .await;
        match outcome {
            Ok(Outcome::Done(ChatOutcome::Ignored { reason })) => {
                tracing::debug!(reason, "ignoring a Slack edit");
                Reply::Ack
            }
            Ok(_) => Reply::Ack,
            Err(e) => self.failed("a Slack edit", &e),
        }
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

    /// `POST /slack/commands` (form-encoded).
    pub async fn command(&self, form: &[(String, String)], body: &[u8]) -> Reply {
        let Command { event, user_name } = match payload::parse_command(form) {
            Ok(command) => command,
            Err(error) => return unreadable(error),
        };
        let (command, text, user, team, trigger, channel) = (
            event.command.0.as_str(),
            event.text.as_deref().unwrap_or_default().trim(),
            event.user_id.0.as_str(),
            event.team_id.0.as_str(),
            event.trigger_id.0.as_str(),
            event.channel_id.0.as_str(),
        );
        if !matches!(
            command,
            "/ticket" | "/report" | "/away" | "/time" | "/macro"
        ) {
            tracing::debug!(command, "ignoring an unknown Slack command");
            return ephemeral(&format!(
                "I don't know {command}. Try /ticket, /report, /away, /time or /macro."
            ));
        }
        let org_id = match self.org_id(team).await {
            Ok(id) => id,
            Err(e) => return self.failed("a slash command", &e),
        };
        let contact = self.contact(org_id, team, user, user_name.as_deref());
        if command == "/report" {
            let key = format!("command:{trigger}");
            return self
                .report_command(contact, channel, text, &key, body)
                .await;
        }
        if matches!(command, "/away" | "/time" | "/macro") {
            let key = format!("command:{trigger}");
            // Slack's commands carry no thread: the ticket is named.
            let command = match command {
                "/away" => ChatCommand::Away(text.to_string()),
                "/time" => ChatCommand::Time {
                    text: text.to_string(),
                    thread: None,
                },
                _ => ChatCommand::Macro {
                    text: text.to_string(),
                    thread: None,
                },
            };
            return self.desk_command(contact, command, &key, body).await;
        }
        if text.is_empty() {
            self.open_create_view(contact, team, trigger);
            return Reply::Ack;
        }
        let input = ticket_from_text(Kind::Incident, text);
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(
                Some(&intake(&format!("command:{trigger}"), body)),
                move |work| {
                    Box::pin(async move {
                        let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                        desk.open_ticket(work, &actor, input).await
                    })
                },
            )
            .await;
        match outcome {
            Ok(Outcome::Done(ticket)) => ephemeral(&format!(
                "Opened *{}*: {}. I'll message you about it.",
                ticket.number,
                render::escape(&ticket.title)
            )),
            Ok(Outcome::Replayed { body, .. }) => ephemeral(&format!(
                "Opened *{}*.",
                body["number"].as_str().unwrap_or_default()
            )),
            Err(e) if refused(&e) => ephemeral(&format!("I could not open that ticket: {e}")),
            Err(e) => self.failed("a slash command", &e),
        }
    }

    /// A desk command (`/away`): one use case, answered to the typer only.
    async fn desk_command(
        &self,
        contact: Contact,
        command: ChatCommand,
        key: &str,
        body: &[u8],
    ) -> Reply {
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(Some(&intake(key, body)), move |work| {
                Box::pin(async move {
                    let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                    desk.chat_command(work, &actor, &command).await
                })
            })
            .await;
        match outcome {
            Ok(Outcome::Done(answer)) => ephemeral(&answer),
            Ok(Outcome::Replayed { body, .. }) => ephemeral(body.as_str().unwrap_or("Done.")),
            Err(e) if refused(&e) => ephemeral(&e.to_string()),
            Err(e) => self.failed("a slash command", &e),
        }
    }

    /// `/report …`: the report's summary and chart go to the channel; the
    /// asker gets the file buttons.
    async fn report_command(
        &self,
        contact: Contact,
        channel: &str,
        text: &str,
        key: &str,
        body: &[u8],
    ) -> Reply {
        let command = match read_report_command(text) {
            Ok(command) => command,
            Err(help) => return ephemeral(&help),
        };
        let (desk, channel) = (self.desk.clone(), channel.to_string());
        let outcome = self
            .desk
            .run(Some(&intake(key, body)), move |work| {
                Box::pin(async move {
                    let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                    desk.report_to_chat(work, &actor, PLATFORM, &channel, &command)
                        .await
                })
            })
            .await;
        match outcome {
            Ok(Outcome::Done(queued)) => Reply::Json(render::report_queued(&queued)),
            Ok(Outcome::Replayed { body, .. }) => {
                match serde_json::from_value::<ChatReportQueued>(body) {
                    Ok(queued) => Reply::Json(render::report_queued(&queued)),
                    Err(_) => Reply::Ack,
                }
            }
            Err(e) if refused(&e) => ephemeral(&format!("I could not run that report: {e}")),
            Err(e) => self.failed("a slash command", &e),
        }
    }

    /// A file button under a `/report` answer.
    async fn report_file(
        &self,
        contact: Contact,
        action_id: &str,
        key: &str,
        body: &[u8],
        response_url: Option<String>,
    ) -> Reply {
        let Some((reference, format)) = read_report_file_action(action_id) else {
            return Reply::Ack;
        };
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(Some(&intake(key, body)), move |work| {
                Box::pin(async move {
                    let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                    desk.report_file_to_chat(work, &actor, reference, format)
                        .await
                })
            })
            .await;
        let answer = match outcome {
            Ok(Outcome::Done(name)) => format!("{name} is on its way to this channel."),
            Ok(Outcome::Replayed { .. }) => return Reply::Ack,
            Err(e) if refused(&e) => format!("I could not make that file: {e}"),
            Err(e) => return self.failed("a report file button", &e),
        };
        if let Some(url) = response_url {
            self.tell(url, answer);
        }
        Reply::Ack
    }

    /// `POST /slack/interactions` (`payload=<json>`).
    pub async fn interaction(&self, json: &str, body: &[u8]) -> Reply {
        let Interaction {
            event,
            selected_user,
        } = match payload::parse_interaction(json) {
            Ok(interaction) => interaction,
            Err(error) => return unreadable(error),
        };
        let (team, user, trigger) = match &event {
            SlackInteractionEvent::BlockActions(e) => {
                (&e.team, e.user.as_ref(), Some(&e.trigger_id))
            }
            SlackInteractionEvent::ViewSubmission(e) => {
                (&e.team, Some(&e.user), e.trigger_id.as_ref())
            }
            SlackInteractionEvent::MessageAction(e) => {
                (&e.team, Some(&e.user), Some(&e.trigger_id))
            }
            SlackInteractionEvent::Shortcut(e) => (&e.team, Some(&e.user), Some(&e.trigger_id)),
            other => {
                tracing::debug!(kind = ?interaction_kind(other), "ignoring a Slack interaction");
                return Reply::Ack;
            }
        };
        let team = team.id.0.clone();
        let name = user.and_then(|u| u.name.clone().or_else(|| u.username.clone()));
        let user = user.map(|u| u.id.0.clone()).unwrap_or_default();
        let trigger = trigger.map(|t| t.0.clone()).unwrap_or_default();
        let org_id = match self.org_id(&team).await {
            Ok(id) => id,
            Err(e) => return self.failed("an interaction", &e),
        };
        let contact = self.contact(org_id, &team, &user, name.as_deref());
        let key = format!("interaction:{trigger}");
        match event {
            SlackInteractionEvent::BlockActions(click) => {
                self.block_action(click, selected_user, contact, &key, body)
                    .await
            }
            SlackInteractionEvent::ViewSubmission(submission) => {
                self.view_submission(submission.view, contact, &key, body)
                    .await
            }
            SlackInteractionEvent::MessageAction(shortcut) => {
                self.message_action(shortcut, contact, &key, body).await
            }
            _ => {
                self.open_create_view(contact, &team, &trigger);
                Reply::Ack
            }
        }
    }

    async fn block_action(
        &self,
        click: SlackInteractionBlockActionsEvent,
        selected_user: Option<String>,
        contact: Contact,
        key: &str,
        body: &[u8],
    ) -> Reply {
        let Some(action) = click.actions.as_ref().and_then(|a| a.first()) else {
            tracing::debug!("ignoring a Slack click without an action");
            return Reply::Ack;
        };
        let action_id = action.action_id.0.clone();
        let response_url = click.response_url.as_ref().map(|u| u.0.to_string());
        // Buttons carry a value; a menu its selection, with the ticket in
        // the block id (`ticket:<number>`) or the option value.
        let block_ticket = action
            .block_id
            .as_ref()
            .and_then(|b| b.0.strip_prefix(render::CARD_BLOCK))
            .map(String::from);
        let value = action
            .value
            .clone()
            .or_else(|| action.selected_option.as_ref().map(|o| o.value.clone()))
            .or(selected_user)
            .unwrap_or_default();
        if action_id.starts_with(crate::desk::chat_reports::REPORT_FILE) {
            return self
                .report_file(contact, &action_id, key, body, response_url)
                .await;
        }
        let team = click.team.id.0.as_str();
        if action_id == render::CATALOG_PICK {
            // The modal is the click's container; its hash guards the update.
            let view_id = match &click.container {
                SlackInteractionActionContainer::View(view) => Some(view.view_id.0.clone()),
                _ => None,
            };
            let hash = match &click.view {
                Some(SlackView::Modal(modal)) => modal.hash.clone(),
                _ => None,
            };
            self.show_catalog_form(view_id, hash, team, contact, &value);
            return Reply::Ack;
        }
        if action_id == render::REJECT {
            self.open_view(team, &click.trigger_id.0, render::reject_modal(&value));
            return Reply::Ack;
        }
        let action = match action_kind(&action_id) {
            Some(ActionKind::Assign) => match block_ticket {
                Some(number) => Some(ChatAction::Assign {
                    number,
                    assignee: IdentityKey::Slack {
                        team_id: match &contact.identity {
                            IdentityKey::Slack { team_id, .. } => team_id.clone(),
                            _ => String::new(),
                        },
                        user_id: value,
                    },
                }),
                None => None,
            },
            Some(kind) => ChatAction::read(kind, &value, None),
            None => None,
        };
        let Some(action) = action else {
            tracing::debug!(action_id, "ignoring an unknown Slack action");
            return Reply::Ack;
        };
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(Some(&intake(key, body)), move |work| {
                Box::pin(async move {
                    let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                    act(&desk, work, &actor, action).await
                })
            })
            .await;
        match outcome {
            Ok(Outcome::Done(Some(note))) => {
                if let Some(url) = response_url {
                    self.replace(url, note);
                }
                Reply::Ack
            }
            Ok(_) => Reply::Ack,
            Err(e) if refused(&e) => {
                // Only the person who clicked sees why nothing happened.
                if let Some(url) = response_url {
                    self.tell(url, e.to_string());
                }
                Reply::Ack
            }
            Err(e) => self.failed("a button click", &e),
        }
    }

    async fn view_submission(
        &self,
        view: SlackStatefulView,
        contact: Contact,
        key: &str,
        body: &[u8],
    ) -> Reply {
        let values = view
            .state_params
            .state
            .map(|state| state.values)
            .unwrap_or_default();
        // Each input block holds one element, whose action id is `value`.
        let text = |block: &str| {
            let v = values
                .get(&SlackBlockId(block.to_string()))?
                .get(&SlackActionId(ANSWER.to_string()))?;
            v.value
                .clone()
                .or_else(|| v.selected_option.as_ref().map(|o| o.value.clone()))
        };
        let (callback_id, metadata) = match &view.view {
            SlackView::Modal(modal) => (
                modal.callback_id.as_ref(),
                modal.private_metadata.as_deref(),
            ),
            SlackView::Home(home) => (home.callback_id.as_ref(), home.private_metadata.as_deref()),
        };
        let callback_id = callback_id.map(|c| c.0.as_str());
        let metadata = metadata.and_then(|s| Uuid::parse_str(s).ok());
        let desk = self.desk.clone();
        match callback_id {
            Some(render::CREATE_MODAL) => {
                let input = OpenTicket {
                    kind: Kind::Incident.as_str().into(),
                    title: text("title").unwrap_or_default(),
                    description: text("description").unwrap_or_default(),
                    urgency: text("urgency"),
                    ..OpenTicket::default()
                };
                let outcome = self
                    .desk
                    .run(Some(&intake(key, body)), move |work| {
                        Box::pin(async move {
                            let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                            desk.open_ticket(work, &actor, input).await
                        })
                    })
                    .await;
                self.modal_outcome(outcome.map(|_| ()), "title")
            }
            Some(render::CATALOG_MODAL) => {
                let Some(item) = metadata else {
                    return Reply::Ack;
                };
                let input = OrderInput {
                    answers: modal_answers(&values),
                    requester: None,
                    title: None,
                };
                let outcome = self
                    .desk
                    .run(Some(&intake(key, body)), move |work| {
                        Box::pin(async move {
                            let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                            desk.order_item(work, &actor, item, input).await
                        })
                    })
                    .await;
                self.modal_outcome(outcome.map(|_| ()), "catalog_form")
            }
            Some(render::REJECT_MODAL) => {
                let Some(approval) = metadata else {
                    return Reply::Ack;
                };
                let reason = text("reason");
                let outcome = self
                    .desk
                    .run(Some(&intake(key, body)), move |work| {
                        Box::pin(async move {
                            let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                            let reject = ChatAction::Reject { approval, reason };
                            desk.chat_action(work, &actor, reject, "Slack").await?;
                            Ok(())
                        })
                    })
                    .await;
                self.modal_outcome(outcome.map(|_| ()), "reason")
            }
            other => {
                tracing::debug!(callback = ?other, "ignoring an unknown Slack modal");
                Reply::Ack
            }
        }
    }

    /// A modal's answer: closed on success, errors shown next to the fields
    /// (the block ids are the desk's field names), anything else on `fallback`.
    fn modal_outcome(&self, outcome: Result<(), DeskError>, fallback: &str) -> Reply {
        match outcome {
            Ok(()) => Reply::Ack,
            Err(DeskError::Invalid(errors)) => {
                let mut shown = serde_json::Map::new();
                for e in errors {
                    // A catalog form's blocks are its fields' keys.
                    let answer = e
                        .field
                        .strip_prefix("answers.")
                        .map(|rest| rest.split('.').next().unwrap_or(rest));
                    let block = match (e.field.as_ref(), answer) {
                        (_, Some(key)) => key.to_string(),
                        ("title" | "description" | "urgency" | "reason", _) => e.field.to_string(),
                        _ => fallback.to_string(),
                    };
                    shown.entry(block).or_insert_with(|| json!(e.message));
                }
                Reply::Json(json!({ "response_action": "errors", "errors": shown }))
            }
            Err(e) if refused(&e) => Reply::Json(json!({
                "response_action": "errors",
                "errors": { fallback: e.to_string() },
            })),
            Err(e) => self.failed("a modal", &e),
        }
    }

    /// The "Create ticket" message shortcut: the message becomes a ticket
    /// raised by whoever used the shortcut.
    async fn message_action(
        &self,
        shortcut: SlackInteractionMessageActionEvent,
        contact: Contact,
        key: &str,
        body: &[u8],
    ) -> Reply {
        let message = shortcut.message.as_ref();
        let text = message
            .and_then(|m| m.content.text.as_deref())
            .unwrap_or_default()
            .trim()
            .to_string();
        if text.is_empty() {
            return Reply::Ack;
        }
        let channel = shortcut
            .channel
            .as_ref()
            .map(|c| c.id.0.as_str())
            .unwrap_or_default();
        let author = message
            .and_then(|m| m.sender.user.as_ref())
            .map(|u| u.0.as_str())
            .unwrap_or_default();
        let mut input = ticket_from_text(Kind::Incident, &text);
        input.description = format!("{text}\n\n— message by <@{author}> in <#{channel}>");
        let desk = self.desk.clone();
        let outcome = self
            .desk
            .run(Some(&intake(key, body)), move |work| {
                Box::pin(async move {
                    let actor = desk.chat_actor(work, &contact, Channel::Slack).await?;
                    desk.open_ticket(work, &actor, input).await
                })
            })
            .await;
        match outcome {
            Ok(_) => Reply::Ack,
            Err(e) => self.failed("a message shortcut", &e),
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

    /// A catalog item picked on the new-ticket modal: the modal becomes the
    /// item's form (`views.update`, after the answer).
    fn show_catalog_form(
        &self,
        view_id: Option<String>,
        hash: Option<String>,
        team: &str,
        contact: Contact,
        item: &str,
    ) {
        let (Some(view_id), Ok(item)) = (view_id, Uuid::parse_str(item)) else {
            tracing::debug!("a catalog pick without a view or item");
            return;
        };
        let team = team.to_string();
        let this = self.clone();
        tokio::spawn(async move {
            let found = match this.actor_of(contact).await {
                Ok(actor) => this.desk.get_catalog_item(&actor, item).await,
                Err(error) => Err(error),
            };
            let item = match found {
                Ok(item) if item.active => item,
                Ok(_) => return tracing::debug!("a retired catalog item was picked"),
                Err(error) => return tracing::warn!(%error, "could not load a catalog item"),
            };
            let form: FormDefinition = match serde_json::from_value(item.form.clone()) {
                Ok(form) => form,
                Err(error) => {
                    return tracing::warn!(%error, item = %item.id, "unreadable catalog form")
                }
            };
            let view = render::catalog_modal(
                &item.id.to_string(),
                &item.name,
                &item.description,
                &form.fields,
            );
            let mut body = json!({ "view_id": view_id, "view": view });
            if let Some(hash) = hash {
                body["hash"] = json!(hash);
            }
            this.call_views(&team, "views.update", &body).await;
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

    /// Replaces the clicked message (e.g. an alarm, once acknowledged).
    fn replace(&self, response_url: String, message: Value) {
        let api = self.api.clone();
        tokio::spawn(async move {
            let mut body = message;
            body["replace_original"] = json!(true);
            if let Err(error) = api.respond(&response_url, &body).await {
                tracing::warn!(?error, "could not update a Slack message");
            }
        });
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

/// Slack's action ids, as the desk's chat actions.
fn action_kind(action_id: &str) -> Option<ActionKind> {
    Some(match action_id {
        render::APPROVE => ActionKind::Approve,
        render::TAKE => ActionKind::Take,
        render::RESOLVE => ActionKind::Resolve,
        render::SOLVED_YES => ActionKind::Solved,
        render::SOLVED_NO => ActionKind::NotSolved,
        render::ESCALATE => ActionKind::Escalate,
        render::RATE => ActionKind::Rate,
        render::ACKNOWLEDGE => ActionKind::Acknowledge,
        render::ALERT_ACK => ActionKind::AlertAck,
        render::SILENCE => ActionKind::Silence,
        render::ASSIGN => ActionKind::Assign,
        render::PRIORITY => ActionKind::Priority,
        _ => return None,
    })
}

/// What a click does, as the person who clicked it; some clicks answer
/// with a message that replaces the clicked one (an acknowledged alarm,
/// the rating buttons after "Yes, close it"); the others change the ticket,
/// whose card the mirror redraws.
async fn act(
    desk: &Desk,
    work: &mut Work,
    actor: &Actor,
    action: ChatAction,
) -> Result<Option<Value>, DeskError> {
    let done = desk.chat_action(work, actor, action, "Slack").await?;
    if let Some(text) = done.notice(render::MARKUP.bold, render::MARKUP.escape) {
        return Ok(Some(json!({ "text": text })));
    }
    Ok(match done {
        ChatActionDone::Alert(ticket, brief) => Some(render::card(&ticket, Some(&brief))),
        ChatActionDone::Closed(ticket) => Some(render::rating_request(&ticket.number)),
        ChatActionDone::Rated { number, score } => Some(render::rated(&number, score)),
        _ => None,
    })
}

fn ephemeral(text: &str) -> Reply {
    Reply::Json(json!({ "response_type": "ephemeral", "text": text }))
}

/// The action id `render` gives the one element of every modal input block.
const ANSWER: &str = "value";

/// A message taken in (a direct message, a thread reply, a mention),
/// whichever event carried it.
struct Heard {
    user: String,
    channel: Option<String>,
    ts: String,
    thread_ts: Option<String>,
    text: String,
    files: Vec<SlackFile>,
}

/// A signed body that does not read as Slack's: answered 400 over HTTP
/// (Slack does not retry a 4xx), acknowledged without effect in Socket Mode.
fn unreadable(error: String) -> Reply {
    tracing::info!(%error, "refused an unreadable Slack payload");
    Reply::Json(json!({ "error": "malformed payload" }))
}

/// An ignored event's type, for the debug log.
fn event_kind(event: &SlackEventCallbackBody) -> Option<String> {
    let value = serde_json::to_value(event).ok()?;
    value["type"].as_str().map(String::from)
}

/// An ignored interaction's type, for the debug log.
fn interaction_kind(interaction: &SlackInteractionEvent) -> Option<String> {
    let value = serde_json::to_value(interaction).ok()?;
    value["type"].as_str().map(String::from)
}

/// Shared files as the deferred download reads them: slack-morphism's file
/// with the `mode` and `size` it does not model beside it.
fn shared_files(files: &[SlackFile], extra: &[FileExtra]) -> Vec<Value> {
    files
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let extra = extra.get(i);
            json!({
                "id": file.id.0,
                "name": file.name,
                "title": file.title,
                "url_private_download": file.url_private_download.as_ref().map(|u| u.as_str()),
                "mode": extra.and_then(|e| e.mode.as_deref()),
                "size": extra.and_then(|e| e.size),
            })
        })
        .collect()
}

/// A catalog form's answers by field key (its blocks' ids), as the desk
/// reads them: lists for multi-selects and checkboxes, the picked value of
/// a menu, the date of a date picker, the typed text otherwise.
fn modal_answers(
    values: &HashMap<SlackBlockId, HashMap<SlackActionId, SlackViewStateValue>>,
) -> serde_json::Map<String, Value> {
    let mut answers = serde_json::Map::new();
    for (block, actions) in values {
        let Some(v) = actions.get(&SlackActionId(ANSWER.to_string())) else {
            continue;
        };
        let answer = match v.action_type.0.as_str() {
            "multi_static_select" | "checkboxes" => Some(Value::Array(
                v.selected_options
                    .iter()
                    .flatten()
                    .map(|o| json!(o.value))
                    .collect(),
            )),
            "static_select" | "radio_buttons" => v.selected_option.as_ref().map(|o| json!(o.value)),
            "datepicker" => v.selected_date.as_ref().map(|d| json!(d)),
            _ => v.value.as_ref().map(|t| json!(t)),
        };
        if let Some(answer) = answer {
            answers.insert(block.0.clone(), answer);
        }
    }
    answers
}

/// Drops `<@U123>` mentions (the bot's name in an app mention).
fn strip_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<@") {
        out.push_str(&rest[..start]);
        match rest[start..].find('>') {
            Some(end) => rest = &rest[start + end + 1..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_stripped() {
        assert_eq!(strip_mentions("<@U1> the VPN is down"), "the VPN is down");
        assert_eq!(strip_mentions("hi <@U1> and <@U2>!"), "hi  and !");
        assert_eq!(strip_mentions("broken <@U1"), "broken <@U1");
    }
}
